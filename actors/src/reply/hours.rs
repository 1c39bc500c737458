//! Business hours, for automatic replies only within them or only outside them (a
//! team that answers by day and lets the bot answer at night). Outside the hours auto
//! applies to, auto mode drafts instead (as suggest does), so the team still sees them.
//!
//! The time zone is a fixed offset from UTC: no daylight saving rules are applied, so a
//! tenant where the clocks change updates the offset when they do.

use crate::domain::text_enum::text_enum;
use crate::{InvalidValue, Millis};
use serde::{Deserialize, Serialize};

text_enum!(
    /// When auto mode sends.
    AutoHours, "a choice of hours" {
        Always => "always",
        /// Only while the business is open.
        Open => "open",
        /// Only while it is closed.
        Closed => "closed",
    }
);

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Minutes east of UTC: 60 for Lisbon in summer, -180 for São Paulo.
    pub utc_offset_minutes: i32,
    /// The days it opens: `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, local time.
    pub open: String,
    /// `HH:MM`, after `open`; `24:00` for midnight.
    pub close: String,
}

impl BusinessHours {
    pub fn validate(&self) -> Result<(), InvalidValue> {
        let fail = |what: &str| Err(InvalidValue(format!("hours.{what}")));
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return fail("utc_offset_minutes must be -840 to 840");
        }
        if self.days.iter().any(|d| !DAYS.contains(&d.as_str())) {
            return fail("days must be among mon, tue, wed, thu, fri, sat, sun");
        }
        match (minute_of(&self.open), minute_of(&self.close)) {
            (Some(open), Some(close)) if open < close => Ok(()),
            _ => fail("open and close must be HH:MM with open before close (24:00 for midnight)"),
        }
    }

    /// Whether the business is open at `at`.
    pub fn is_open(&self, at: Millis) -> bool {
        const DAY_MS: i64 = 86_400_000;
        let local = at.0 + i64::from(self.utc_offset_minutes) * 60_000;
        let day = local.div_euclid(DAY_MS);
        // 1970-01-01 was a Thursday.
        let weekday = DAYS[(day + 3).rem_euclid(7) as usize];
        let minute = u32::try_from(local.rem_euclid(DAY_MS) / 60_000).unwrap_or_default();
        let (Some(open), Some(close)) = (minute_of(&self.open), minute_of(&self.close)) else {
            return false;
        };
        self.days.iter().any(|d| d == weekday) && (open..close).contains(&minute)
    }
}

/// `HH:MM` as minutes after midnight; `24:00` is 1440.
fn minute_of(text: &str) -> Option<u32> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    match (hours, minutes) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(hours * 60 + minutes),
        _ => None,
    }
}

/// Whether auto mode sends at `at`, given when it should and the hours (none: always).
pub fn auto_sends(when: AutoHours, hours: Option<&BusinessHours>, at: Millis) -> bool {
    match (when, hours) {
        (AutoHours::Always, _) | (_, None) => true,
        (AutoHours::Open, Some(hours)) => hours.is_open(at),
        (AutoHours::Closed, Some(hours)) => !hours.is_open(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekdays_nine_to_six(offset: i32) -> BusinessHours {
        BusinessHours {
            utc_offset_minutes: offset,
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            open: "09:00".into(),
            close: "18:00".into(),
        }
    }

    /// 2026-11-27 was a Friday; `hh:mm` UTC that day plus `days`.
    fn at(days: i64, hh: i64, mm: i64) -> Millis {
        const FRIDAY: i64 = 1_795_737_600_000; // 2026-11-27T00:00:00Z
        Millis(FRIDAY + days * 86_400_000 + hh * 3_600_000 + mm * 60_000)
    }

    #[test]
    fn open_on_the_listed_days_from_open_until_close_in_local_time() {
        let utc = weekdays_nine_to_six(0);
        assert!(!utc.is_open(at(0, 8, 59)));
        assert!(utc.is_open(at(0, 9, 0)));
        assert!(utc.is_open(at(0, 17, 59)));
        assert!(!utc.is_open(at(0, 18, 0)));
        assert!(!utc.is_open(at(1, 12, 0)), "Saturday");
        assert!(utc.is_open(at(3, 12, 0)), "Monday");
        // São Paulo (-3 h): 09:00 there is 12:00 UTC; Friday 23:00 there is Saturday UTC.
        let sao_paulo = weekdays_nine_to_six(-180);
        assert!(!sao_paulo.is_open(at(0, 11, 59)));
        assert!(sao_paulo.is_open(at(0, 12, 0)));
        assert!(
            !sao_paulo.is_open(at(1, 1, 30)),
            "Friday 22:30 local, closed"
        );
        let midnight = BusinessHours {
            close: "24:00".into(),
            ..utc
        };
        assert!(midnight.is_open(at(0, 23, 59)));
    }

    #[test]
    fn auto_sends_always_or_only_within_or_outside_the_hours() {
        let hours = weekdays_nine_to_six(0);
        let (day, night) = (at(0, 12, 0), at(0, 22, 0));
        assert!(auto_sends(AutoHours::Always, Some(&hours), night));
        assert!(auto_sends(AutoHours::Open, Some(&hours), day));
        assert!(!auto_sends(AutoHours::Open, Some(&hours), night));
        assert!(auto_sends(AutoHours::Closed, Some(&hours), night));
        assert!(!auto_sends(AutoHours::Closed, Some(&hours), day));
        assert!(auto_sends(AutoHours::Open, None, night), "no hours: always");
    }

    #[test]
    fn hours_that_cannot_be_read_are_refused_naming_the_field() {
        for (change, says) in [
            (
                (|h: &mut BusinessHours| h.open = "9:00".into()) as fn(&mut BusinessHours),
                "hours.open",
            ),
            (|h| h.close = "08:00".into(), "hours.open"),
            (|h| h.close = "24:30".into(), "hours.open"),
            (|h| h.days = vec!["monday".into()], "hours.days"),
            (|h| h.utc_offset_minutes = 900, "hours.utc_offset_minutes"),
        ] {
            let mut hours = weekdays_nine_to_six(0);
            change(&mut hours);
            assert!(hours.validate().unwrap_err().0.starts_with(says), "{says}");
        }
        assert_eq!(weekdays_nine_to_six(60).validate(), Ok(()));
    }
}
