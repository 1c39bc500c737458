//! A tenant's AI reply settings: whether the model drafts replies for agents
//! (`suggest`) or sends them itself (`auto`), per tenant and per channel, and what
//! it must hold to. They carry no secret (the providers and their keys are the AI
//! settings'), so they are stored as plain JSON.

use super::hours::{self, AutoHours, BusinessHours};
use crate::domain::text_enum::text_enum;
use crate::{InvalidValue, Millis};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

text_enum!(
    /// What the model does with a customer message in a conversation the bot has.
    ReplyMode, "a reply mode" {
        Off => "off",
        /// A draft for the agent, in the composer, to send, edit or discard.
        Suggest => "suggest",
        /// Sent to the customer.
        Auto => "auto",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReplySettings {
    /// For every channel not in `channels`.
    pub mode: ReplyMode,
    /// By channel key (`whatsapp:…`, `sandbox:demo`): a mode of its own.
    pub channels: BTreeMap<String, ReplyMode>,
    /// How the business speaks: tone, name, what it sells. Goes into every prompt.
    pub brand_voice: String,
    /// The tenant's own rules, added to the built-in ones.
    pub rules: Vec<String>,
    /// An answer the model is less sure of than this is not used.
    pub min_confidence: f64,
    /// Sent (or drafted) when no usable answer comes: no provider answered, the
    /// answer was unsure or refused by the output guardrail. Empty: the conversation is
    /// handed to a person instead.
    pub fallback: String,
    /// Hosts a reply may link to (their subdomains too); any other link is refused.
    pub link_hosts: Vec<String>,
    /// Earlier messages of the conversation the prompt carries.
    pub history: u32,
    /// Knowledge-base passages the prompt carries.
    pub passages: u32,
    /// A customer message older than this when its turn comes gets no reply (after an
    /// outage, a late answer would confuse more than it helps).
    pub max_age_secs: u64,
    /// How long an answer serves the same question again (0: no cache).
    pub cache_ttl_secs: u64,
    /// When auto mode sends (`always`, only while `open`, only while `closed`); at
    /// other times it drafts, as suggest does.
    pub auto_when: AutoHours,
    /// The business's opening hours, which `auto_when` refers to.
    pub hours: Option<BusinessHours>,
}

impl Default for ReplySettings {
    fn default() -> Self {
        Self {
            mode: ReplyMode::Off,
            channels: BTreeMap::new(),
            brand_voice: String::new(),
            rules: Vec::new(),
            min_confidence: 0.6,
            fallback: String::new(),
            link_hosts: Vec::new(),
            history: 12,
            passages: 5,
            max_age_secs: 600,
            cache_ttl_secs: 3600,
            auto_when: AutoHours::Always,
            hours: None,
        }
    }
}

pub const MAX_BRAND_VOICE_CHARS: usize = 2000;
pub const MAX_RULES: usize = 20;
pub const MAX_RULE_CHARS: usize = 500;
pub const MAX_FALLBACK_CHARS: usize = 1000;
pub const MAX_LINK_HOSTS: usize = 50;
pub const MAX_CHANNELS: usize = 200;
pub const MAX_HISTORY: u32 = 50;
pub const MAX_PASSAGES: u32 = 10;
/// A week: facts change, and a cached answer does not see them.
pub const MAX_CACHE_TTL_SECS: u64 = 7 * 86_400;

impl ReplySettings {
    /// The channel's mode at `at`: auto outside the hours it applies to drafts instead.
    pub fn mode_for(&self, channel: &str, at: Millis) -> ReplyMode {
        match self.channels.get(channel).copied().unwrap_or(self.mode) {
            ReplyMode::Auto if !hours::auto_sends(self.auto_when, self.hours.as_ref(), at) => {
                ReplyMode::Suggest
            }
            mode => mode,
        }
    }

    /// Whether any channel replies at all.
    pub fn enabled(&self) -> bool {
        self.mode != ReplyMode::Off || self.channels.values().any(|m| *m != ReplyMode::Off)
    }

    /// Trims what was sent and checks every limit, naming the field that breaks one.
    pub fn validated(mut self) -> Result<Self, InvalidValue> {
        let fail = |text: String| Err(InvalidValue(text));
        self.brand_voice = self.brand_voice.trim().to_owned();
        self.fallback = self.fallback.trim().to_owned();
        if self.brand_voice.chars().count() > MAX_BRAND_VOICE_CHARS {
            return fail(format!(
                "brand_voice has at most {MAX_BRAND_VOICE_CHARS} characters"
            ));
        }
        if self.fallback.chars().count() > MAX_FALLBACK_CHARS {
            return fail(format!(
                "fallback has at most {MAX_FALLBACK_CHARS} characters"
            ));
        }
        self.rules = self
            .rules
            .iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        if self.rules.len() > MAX_RULES
            || self
                .rules
                .iter()
                .any(|r| r.chars().count() > MAX_RULE_CHARS)
        {
            return fail(format!(
                "rules: at most {MAX_RULES}, each at most {MAX_RULE_CHARS} characters"
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return fail("min_confidence must be 0 to 1".into());
        }
        if self.channels.len() > MAX_CHANNELS {
            return fail(format!("channels: at most {MAX_CHANNELS}"));
        }
        let is_key = |k: &str| {
            crate::ChannelKey::parse(k).is_ok()
                && k.split_once(':')
                    .is_some_and(|(kind, name)| !kind.is_empty() && !name.is_empty())
        };
        if let Some(key) = self.channels.keys().find(|k| !is_key(k)) {
            return fail(format!(
                "channels: '{key}' is not a channel key such as whatsapp:<id> or sandbox:<name>"
            ));
        }
        self.link_hosts = self
            .link_hosts
            .iter()
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect();
        if self.link_hosts.len() > MAX_LINK_HOSTS
            || self.link_hosts.iter().any(|h| !is_host_name(h))
        {
            return fail(format!(
                "link_hosts: at most {MAX_LINK_HOSTS} host names such as example.com"
            ));
        }
        if !(1..=MAX_HISTORY).contains(&self.history) {
            return fail(format!("history must be 1 to {MAX_HISTORY}"));
        }
        if self.passages > MAX_PASSAGES {
            return fail(format!("passages must be 0 to {MAX_PASSAGES}"));
        }
        if !(10..=86_400).contains(&self.max_age_secs) {
            return fail("max_age_secs must be 10 to 86400".into());
        }
        if let Some(hours) = &self.hours {
            hours.validate()?;
        }
        if self.auto_when != AutoHours::Always && self.hours.is_none() {
            return fail("auto_when needs hours".into());
        }
        if self.cache_ttl_secs > MAX_CACHE_TTL_SECS {
            return fail(format!("cache_ttl_secs must be 0 to {MAX_CACHE_TTL_SECS}"));
        }
        Ok(self)
    }
}

/// Letters, digits and inner hyphens in dot-separated labels, with at least one dot.
fn is_host_name(host: &str) -> bool {
    host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_of_its_own_overrides_the_tenants_mode_and_auto_follows_the_hours() {
        let mut settings = ReplySettings {
            mode: ReplyMode::Suggest,
            ..ReplySettings::default()
        };
        settings
            .channels
            .insert("sandbox:demo".into(), ReplyMode::Auto);
        settings
            .channels
            .insert("sandbox:quiet".into(), ReplyMode::Off);
        let now = Millis::now();
        assert_eq!(settings.mode_for("sandbox:demo", now), ReplyMode::Auto);
        assert_eq!(settings.mode_for("sandbox:quiet", now), ReplyMode::Off);
        assert_eq!(settings.mode_for("whatsapp:x", now), ReplyMode::Suggest);
        // Auto only while open, and never open: it drafts.
        settings.auto_when = AutoHours::Open;
        settings.hours = Some(BusinessHours {
            utc_offset_minutes: 0,
            days: Vec::new(),
            open: "09:00".into(),
            close: "18:00".into(),
        });
        assert_eq!(settings.mode_for("sandbox:demo", now), ReplyMode::Suggest);
        settings.auto_when = AutoHours::Closed;
        assert_eq!(settings.mode_for("sandbox:demo", now), ReplyMode::Auto);
        assert!(settings.enabled());
        assert!(!ReplySettings::default().enabled());
    }

    #[test]
    fn each_limit_is_checked_and_named() {
        let check = |change: fn(&mut ReplySettings)| {
            let mut settings = ReplySettings::default();
            change(&mut settings);
            settings.validated().map(|_| ()).map_err(|e| e.0)
        };
        assert_eq!(check(|_| {}), Ok(()));
        for (change, says) in [
            (
                (|s: &mut ReplySettings| s.min_confidence = 1.5) as fn(&mut ReplySettings),
                "min_confidence",
            ),
            (|s| s.history = 0, "history"),
            (|s| s.passages = 11, "passages"),
            (|s| s.max_age_secs = 5, "max_age_secs"),
            (|s| s.brand_voice = "x".repeat(2001), "brand_voice"),
            (|s| s.fallback = "x".repeat(1001), "fallback"),
            (|s| s.rules = vec!["x".repeat(501)], "rules"),
            (
                |s| s.link_hosts = vec!["http://acme.com".into()],
                "link_hosts",
            ),
            (|s| s.link_hosts = vec!["localhost".into()], "link_hosts"),
            (
                |s| {
                    s.channels.insert("nope".into(), ReplyMode::Auto);
                },
                "channels",
            ),
        ] {
            let err = check(change).unwrap_err();
            assert!(err.starts_with(says), "{says}: {err}");
        }
        let mut hosts = ReplySettings {
            link_hosts: vec![" Acme.COM. ".into()],
            ..ReplySettings::default()
        };
        hosts = hosts.validated().unwrap();
        assert_eq!(hosts.link_hosts, ["acme.com"]);
    }
}
