//! Segments: a tenant's saved contact filters, by name, each counted live when asked.

use super::filter::ContactFilter;
use crate::{InvalidValue, Millis, SegmentId, TenantId};

/// Most segments per tenant, and the longest name.
pub const MAX_SEGMENTS: usize = 200;
pub const MAX_SEGMENT_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub tenant_id: TenantId,
    pub id: SegmentId,
    pub name: String,
    pub filter: ContactFilter,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Segment {
    /// Refuses a name or filter a segment cannot have; trims the name.
    pub fn tidy(mut self) -> Result<Self, InvalidValue> {
        self.name = self.name.trim().to_owned();
        if self.name.is_empty() || self.name.chars().count() > MAX_SEGMENT_NAME_CHARS {
            return Err(InvalidValue(format!(
                "name must be 1 to {MAX_SEGMENT_NAME_CHARS} characters"
            )));
        }
        self.filter.check()?;
        Ok(self)
    }
}
