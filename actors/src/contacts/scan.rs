//! Reading the contacts a filter selects: a page at a time (newest first, reading at
//! most so many contacts per call), or all of them for a count. A filter on
//! conversations' facts reads their activity once per batch, not per contact.

use super::filter::{Activity, ContactFilter};
use crate::inbox::records::Contact;
use crate::store::{Store, StoreError};
use crate::{ContactId, Millis, TenantId};
use std::collections::HashMap;

/// Contacts read per query.
const BATCH: usize = 500;

/// Which contacts: those `q` finds (by name, phone, email or field value), then
/// those `filter` passes.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub filter: Option<&'a ContactFilter>,
    pub q: Option<&'a str>,
}

#[derive(Debug)]
pub struct Found {
    pub contacts: Vec<Contact>,
    /// Where the next page starts; none when every contact was read.
    pub next: Option<ContactId>,
}

/// Up to `limit` selected contacts after `after`, reading at most `max_read`.
pub async fn page(
    store: &dyn Store,
    tenant: TenantId,
    selection: Selection<'_>,
    mut after: Option<ContactId>,
    limit: usize,
    max_read: usize,
    now: Millis,
) -> Result<Found, StoreError> {
    let mut left = max_read.max(1);
    let mut contacts = Vec::new();
    loop {
        let size = left.min(BATCH);
        let batch = read(store, tenant, selection, after, size, now).await?;
        let exhausted = batch.len() < size;
        left -= batch.len();
        for (contact, selected) in batch {
            after = Some(contact.id);
            if selected {
                contacts.push(contact);
                if contacts.len() == limit {
                    break;
                }
            }
        }
        // A full page may have stopped mid-batch: the rest comes after its cursor.
        if contacts.len() == limit || (!exhausted && left == 0) {
            return Ok(Found {
                contacts,
                next: after,
            });
        }
        if exhausted {
            return Ok(Found {
                contacts,
                next: None,
            });
        }
    }
}

/// How many contacts the selection holds now, reading every contact of the tenant.
pub async fn count(
    store: &dyn Store,
    tenant: TenantId,
    selection: Selection<'_>,
    now: Millis,
) -> Result<u64, StoreError> {
    let (mut after, mut counted) = (None, 0);
    loop {
        let batch = read(store, tenant, selection, after, BATCH, now).await?;
        let exhausted = batch.len() < BATCH;
        after = batch.last().map(|(c, _)| c.id);
        counted += batch.iter().filter(|(_, selected)| *selected).count() as u64;
        if exhausted {
            return Ok(counted);
        }
    }
}

/// The next `size` contacts `q` finds after `after`, each with whether the filter
/// passes it.
async fn read(
    store: &dyn Store,
    tenant: TenantId,
    selection: Selection<'_>,
    after: Option<ContactId>,
    size: usize,
    now: Millis,
) -> Result<Vec<(Contact, bool)>, StoreError> {
    let batch = store
        .search_contacts(tenant, selection.q, after, size as u32)
        .await?;
    let Some(filter) = selection.filter else {
        return Ok(batch.into_iter().map(|c| (c, true)).collect());
    };
    let activity = match (filter.needs_activity(), batch.first(), batch.last()) {
        // Newest first: the batch's ids run from its first down to its last.
        (true, Some(high), Some(low)) => store.contact_activity(tenant, low.id, high.id).await?,
        _ => Default::default(),
    };
    let none = Activity::default();
    Ok(batch
        .into_iter()
        .map(|contact| {
            let selected =
                filter.matches(&contact, activity.get(&contact.id).unwrap_or(&none), now);
            (contact, selected)
        })
        .collect())
}

/// A phone or email (as stored: E.164, lower case) to the contact that has it.
pub type Handles = HashMap<String, ContactId>;

/// Contacts read per query while the handles are gathered.
const HANDLE_BATCH: usize = 1000;

/// Every phone and email of the tenant's contacts, to the contact that has it: the
/// oldest, as channels match senders. Read once, so matching a whole file or list
/// costs one pass over the book rather than a search per line.
pub async fn handles(store: &dyn Store, tenant: TenantId) -> Result<Handles, StoreError> {
    let mut handles = Handles::new();
    let mut after = None;
    loop {
        let everyone = Selection {
            filter: None,
            q: None,
        };
        let found = page(
            store,
            tenant,
            everyone,
            after,
            HANDLE_BATCH,
            HANDLE_BATCH,
            Millis::now(),
        )
        .await?;
        // Newest first: an older contact with the same handle overwrites.
        for contact in &found.contacts {
            remember(&mut handles, contact);
        }
        match found.next {
            Some(next) => after = Some(next),
            None => return Ok(handles),
        }
    }
}

/// Notes the contact's phones and emails.
pub fn remember(handles: &mut Handles, contact: &Contact) {
    for handle in contact
        .phones
        .iter()
        .map(|p| p.as_str())
        .chain(contact.emails.iter().map(|e| e.as_str()))
    {
        handles.insert(handle.to_owned(), contact.id);
    }
}
