//! The event types an endpoint can ask for, and the body each delivery posts.
//!
//! Every stream event type is one (what agents receive on the socket), plus types
//! that name what an event means for integrators: `conversation.created` and
//! `lead.captured` are the `message.new` of a customer's first message and of a lead
//! form, posted under their own type so an integration can ask for just those.

use crate::inbox::stream::{EventKind, StreamEvent};
use crate::{EndpointId, Millis, TenantId};
use serde::Deserialize;
use serde_json::json;

pub const CONVERSATION_CREATED: &str = "conversation.created";
pub const LEAD_CAPTURED: &str = "lead.captured";
/// What the test button sends, whatever types the endpoint asked for.
pub const TEST_EVENT: &str = "webhook.test";

/// Types that name what a stream event means, beyond its own type.
const DERIVED: [&str; 2] = [CONVERSATION_CREATED, LEAD_CAPTURED];

/// Every type an endpoint may ask for.
pub fn event_types() -> Vec<&'static str> {
    EventKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .chain(DERIVED)
        .collect()
}

/// The types asked for, each once and known, in the order given.
pub fn check_types(asked: &[String]) -> Result<Vec<String>, String> {
    let known = event_types();
    let mut types: Vec<String> = Vec::with_capacity(asked.len());
    for raw in asked {
        if !known.contains(&raw.as_str()) {
            return Err(format!(
                "'{raw}' is not an event type ({})",
                known.join(", ")
            ));
        }
        if !types.contains(raw) {
            types.push(raw.clone());
        }
    }
    if types.is_empty() {
        return Err("name at least one event type".into());
    }
    Ok(types)
}

#[derive(Deserialize)]
struct MessageNew {
    message: MessagePart,
}

#[derive(Deserialize)]
struct MessagePart {
    direction: String,
    seq: i64,
    #[serde(rename = "type")]
    kind: String,
}

/// Whether an endpoint that asks for these types needs what events mean (which
/// costs reading each customer message's JSON), not just their own types.
pub fn wants_meanings(types: &[String]) -> bool {
    types.iter().any(|t| DERIVED.contains(&t.as_str()))
}

/// The types `event` is delivered under: its own, and, with `meanings`, what it
/// means.
pub fn types_of(event: &StreamEvent, meanings: bool) -> Vec<&'static str> {
    let mut types = vec![event.kind.as_str()];
    if meanings
        && event.kind == EventKind::MessageNew
        && let Ok(new) = serde_json::from_str::<MessageNew>(&event.data)
        && new.message.direction == "inbound"
    {
        if new.message.seq == 1 {
            types.push(CONVERSATION_CREATED);
        }
        if new.message.kind == "lead" {
            types.push(LEAD_CAPTURED);
        }
    }
    types
}

/// The body of a delivery of `event` as `event_type`: the event as the socket sends
/// it, with the tenant and, as Standard Webhooks asks, when it happened
/// (`timestamp`).
pub fn payload(tenant: TenantId, event: &StreamEvent, event_type: &str) -> String {
    let extra = format!(
        r#""timestamp":"{}","tenant_id":"{tenant}","#,
        event.at.to_rfc3339()
    );
    event.render(event_type, &extra)
}

/// The body of a test delivery.
pub fn test_payload(tenant: TenantId, endpoint: EndpointId, at: Millis) -> String {
    json!({
        "type": TEST_EVENT,
        "timestamp": at.to_rfc3339(),
        "tenant_id": tenant,
        "v": crate::inbox::stream::PROTOCOL_VERSION,
        "data": { "endpoint_id": endpoint, "message": "A test event from Switchboard" },
    })
    .to_string()
}

/// Where in the stream a delivery's event is, unique per stream numbering.
pub fn event_key(event: &StreamEvent) -> String {
    format!("{}:{}", event.epoch, event.offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConversationId;
    use crate::inbox::stream::Epoch;
    use serde_json::Value;

    fn message_new(seq: i64, kind: &str, direction: &str) -> StreamEvent {
        StreamEvent {
            epoch: Epoch(uuid::Uuid::nil()),
            offset: 9,
            kind: EventKind::MessageNew,
            conversation_id: ConversationId(uuid::Uuid::nil()),
            assignee_id: None,
            data: format!(
                r#"{{"message":{{"direction":"{direction}","seq":{seq},"type":"{kind}","body":"hi"}},"conversation":{{"id":"x"}}}}"#
            ),
            at: Millis(1_614_265_330_125),
        }
    }

    #[test]
    fn a_customer_s_first_lead_is_also_a_new_conversation_and_a_captured_lead() {
        assert_eq!(
            types_of(&message_new(1, "lead", "inbound"), true),
            ["message.new", CONVERSATION_CREATED, LEAD_CAPTURED]
        );
        assert_eq!(
            types_of(&message_new(2, "text", "inbound"), true),
            ["message.new"]
        );
        assert_eq!(
            types_of(&message_new(1, "text", "outbound"), true),
            ["message.new"]
        );
    }

    #[test]
    fn the_body_is_the_socket_event_with_the_tenant_and_its_time() {
        let tenant = TenantId(uuid::Uuid::nil());
        let body: Value = serde_json::from_str(&payload(
            tenant,
            &message_new(1, "text", "inbound"),
            "conversation.created",
        ))
        .unwrap();
        assert_eq!(body["type"], "conversation.created");
        assert_eq!(body["timestamp"], "2021-02-25T15:02:10.125Z");
        assert_eq!(body["tenant_id"], tenant.0.to_string());
        assert_eq!(body["offset"], 9);
        assert_eq!(body["conversation_id"], uuid::Uuid::nil().to_string());
        assert_eq!(body["data"]["message"]["body"], "hi");
    }

    #[test]
    fn unknown_and_missing_types_are_refused_and_repeats_kept_once() {
        assert!(check_types(&["message.nope".into()]).is_err());
        assert!(check_types(&[]).is_err());
        assert_eq!(
            check_types(&["lead.captured".into(), "lead.captured".into()]).unwrap(),
            ["lead.captured"]
        );
    }
}
