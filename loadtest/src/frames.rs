//! What the generator writes into messages and reads out of frames.
//!
//! Agents scan frames for a few fields instead of parsing whole JSON documents: at a
//! few hundred thousand deliveries a second the generator's own parsing would otherwise
//! be what is measured. The scan relies on the field order the servers emit (`type`
//! first, top-level `epoch`/`offset`/`conversation_id` before `data`).

/// The text of one customer message: `LT:<tenant>:<sender>:<seq>:<intended µs>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    pub tenant: u32,
    /// Unique across tenants in one run.
    pub sender: u32,
    /// Per sender, from 0, never reused in one run.
    pub seq: u32,
    /// When the generator meant to send it, on `clock`.
    pub intended_us: u64,
}

const MARKER: &str = "LT:";
const REPLY: &str = "RE:";

impl Marker {
    pub fn key(&self) -> u64 {
        key(self.sender, self.seq)
    }

    pub fn text(&self) -> String {
        format!(
            "{MARKER}{}:{}:{}:{}",
            self.tenant, self.sender, self.seq, self.intended_us
        )
    }

    /// The first marker in `frame`, if any.
    pub fn find(frame: &str) -> Option<Marker> {
        let at = frame.find(MARKER)? + MARKER.len();
        let mut parts = frame[at..]
            .split(|c: char| !c.is_ascii_digit() && c != ':')
            .next()?
            .split(':');
        let mut next = || parts.next().and_then(|p| p.parse::<u64>().ok());
        Some(Marker {
            tenant: u32::try_from(next()?).ok()?,
            sender: u32::try_from(next()?).ok()?,
            seq: u32::try_from(next()?).ok()?,
            intended_us: next()?,
        })
    }
}

/// One message's identity in a run: sender and sequence number.
pub fn key(sender: u32, seq: u32) -> u64 {
    (u64::from(sender) << 32) | u64::from(seq)
}

pub fn sender_of(key: u64) -> u32 {
    (key >> 32) as u32
}

/// The text of an agent's reply to message `key`, sent at `sent_us`.
pub fn reply_text(key: u64, sent_us: u64) -> String {
    format!("{REPLY}{key}:{sent_us}")
}

/// (message key, sent µs) from a reply text.
pub fn parse_reply(text: &str) -> Option<(u64, u64)> {
    let (key, sent) = text.strip_prefix(REPLY)?.split_once(':')?;
    Some((key.parse().ok()?, sent.parse().ok()?))
}

/// The frame's `type`.
pub fn frame_type(frame: &str) -> Option<&str> {
    string_field(frame, "type")
}

/// The first `"name":"…"` string value in `frame`.
pub fn string_field<'a>(frame: &'a str, name: &str) -> Option<&'a str> {
    let rest = frame[value_start(frame, name)?..].strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// The first `"name":<integer>` value in `frame`.
pub fn number_field(frame: &str, name: &str) -> Option<i64> {
    let rest = &frame[value_start(frame, name)?..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

/// Where the value of the first `"name":` in `frame` starts. Scans without building
/// the pattern: agents call this for every frame they read.
fn value_start(frame: &str, name: &str) -> Option<usize> {
    frame.match_indices(name).find_map(|(at, _)| {
        let quoted = at > 0 && frame.as_bytes()[at - 1] == b'"';
        let after = at + name.len();
        (quoted && frame[after..].starts_with("\":")).then_some(after + 2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_survives_the_trip_through_a_frame() {
        let marker = Marker {
            tenant: 3,
            sender: 41,
            seq: 7,
            intended_us: 123_456,
        };
        let frame = format!(
            r#"{{"type":"message.new","v":1,"epoch":"e1","offset":42,"conversation_id":"c9","data":{{"message":{{"body":"{}"}}}}}}"#,
            marker.text()
        );
        assert_eq!(Marker::find(&frame), Some(marker));
        assert_eq!(frame_type(&frame), Some("message.new"));
        assert_eq!(number_field(&frame, "offset"), Some(42));
        assert_eq!(string_field(&frame, "epoch"), Some("e1"));
        assert_eq!(string_field(&frame, "conversation_id"), Some("c9"));
    }

    #[test]
    fn a_reply_text_gives_back_its_key_and_time() {
        let k = key(5, 9);
        assert_eq!(sender_of(k), 5);
        assert_eq!(parse_reply(&reply_text(k, 77)), Some((k, 77)));
        assert_eq!(parse_reply("hello"), None);
    }

    #[test]
    fn a_frame_without_a_marker_has_none() {
        assert_eq!(
            Marker::find(r#"{"type":"message.new","body":"LT:1:2"}"#),
            None
        );
    }
}
