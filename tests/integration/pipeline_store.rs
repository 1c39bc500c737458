//! The pipeline's storage on SQLite and Postgres, through the port only: the
//! per-tenant lease, and an insight, its lead, its events and the cursor moving
//! together, once.

use crate::common::{Backend, open_store, store_tenant};
use switchboard_actors::inbox::bus::NodeId;
use switchboard_actors::inbox::stream::EventKind;
use switchboard_actors::inbox::stream::StreamEvent;
use switchboard_actors::pipeline::handoff::{HandoffRules, HandoffState, HandoffTrigger};
use switchboard_actors::pipeline::scoring::{self, LeadScore, Scored, Temperature};
use switchboard_actors::pipeline::settings::PipelineSettingsDoc;
use switchboard_actors::pipeline::store::{
    Analysis, Counts, HandoffChange, IdleHandoff, Insight, Lead,
};
use switchboard_actors::pipeline::{guardrail, sentiment, understanding};
use switchboard_actors::store::{Store, StoreError};
use switchboard_actors::{ConversationId, MessageId, Millis, TenantId, UserId};
use uuid::Uuid;

/// Records one insight (and moves the cursor to it); the events written.
async fn record(
    store: &dyn Store,
    tenant: TenantId,
    node: NodeId,
    insight: &Insight,
) -> Result<Option<Vec<StreamEvent>>, StoreError> {
    let recorded = store
        .record_insights(tenant, node, std::slice::from_ref(insight), insight.offset)
        .await?;
    Ok(recorded.map(|r| r.events))
}

fn node() -> NodeId {
    NodeId(Uuid::now_v7())
}

/// The insight the rules give `text` as the conversation's `count`th message at `offset`.
fn insight(conversation: ConversationId, text: &str, offset: i64, before: &LeadScore) -> Insight {
    let guard = guardrail::check(text, &[]);
    let understanding = understanding::understand(text, &[]);
    let language = understanding.language.as_ref().map(|l| l.code.clone());
    let sentiment = sentiment::analyse(text, language.as_deref());
    let score = scoring::score(
        before,
        &Scored {
            guard: &guard,
            understanding: &understanding,
            sentiment: &sentiment,
            inbound_count: 1,
        },
    );
    let lead = Lead {
        score,
        sentiment: Some(sentiment.label),
        urgency: understanding.urgency,
        counts: Counts {
            inbound: 1,
            ..Counts::default()
        },
        scored_offset: offset,
        updated_at: Millis(5_000 + offset),
        ..Lead::new(conversation)
    };
    Insight {
        message_id: MessageId::new(),
        conversation_id: conversation,
        offset,
        analysis: Analysis {
            guard,
            understanding,
            sentiment,
            skipped: Vec::new(),
        },
        lead,
        handoff_before: HandoffState::Bot,
        at: Millis(5_000 + offset),
    }
}

async fn one_node_works_a_tenants_pipeline_at_a_time_until_its_lease_runs_out(backend: Backend) {
    let (store, _db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let (a, b) = (node(), node());
    assert_eq!(
        store
            .claim_pipeline(tenant, a, Millis(1_000), Millis(31_000))
            .await
            .unwrap(),
        Some(0),
        "a new tenant's pipeline starts at the stream's beginning"
    );
    assert_eq!(
        store
            .claim_pipeline(tenant, b, Millis(2_000), Millis(32_000))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .claim_pipeline(tenant, a, Millis(2_000), Millis(32_000))
            .await
            .unwrap(),
        Some(0),
        "the holder renews"
    );
    assert_eq!(
        store
            .claim_pipeline(tenant, b, Millis(32_001), Millis(62_001))
            .await
            .unwrap(),
        Some(0),
        "another node takes over once the lease ran out"
    );
    let conversation = ConversationId::new();
    let late = insight(conversation, "How much is it?", 7, &LeadScore::none());
    assert_eq!(
        record(store.as_ref(), tenant, a, &late).await.unwrap(),
        None,
        "the old holder writes nothing"
    );
    assert!(!store.advance_pipeline(tenant, a, 7).await.unwrap());
    assert_eq!(store.lead(tenant, conversation).await.unwrap(), None);
    assert_eq!(
        store.stream_head(tenant).await.unwrap().last_offset,
        0,
        "and publishes nothing"
    );

    store.release_pipeline(tenant, b).await.unwrap();
    assert_eq!(
        store
            .claim_pipeline(tenant, a, Millis(33_000), Millis(63_000))
            .await
            .unwrap(),
        Some(0),
        "a released pipeline is taken at once"
    );
}

async fn an_insight_its_lead_its_events_and_the_cursor_commit_together_once(backend: Backend) {
    let (store, _db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let worker = node();
    store
        .claim_pipeline(tenant, worker, Millis(1_000), Millis(31_000))
        .await
        .unwrap();
    let conversation = ConversationId::new();
    let first = insight(
        conversation,
        "Hi, how much is the Pro plan? I need it today, thanks!",
        3,
        &LeadScore::none(),
    );
    assert_eq!(first.lead.score.temperature, Temperature::Hot);

    let events = record(store.as_ref(), tenant, worker, &first)
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.offset, e.conversation_id))
        .collect();
    assert_eq!(kinds, [(EventKind::MessageInsights, 1, conversation)]);
    let event: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
    let lead_event = &event["lead"];
    assert_eq!(lead_event["temperature"], "hot");
    assert_eq!(lead_event["score"], first.lead.score.score);
    assert_eq!(lead_event["handoff"], "bot");
    assert_eq!(lead_event["reasons"][0]["signal"], "pricing_or_buying");
    let insight_event = &event;
    assert_eq!(insight_event["message_id"], first.message_id.0.to_string());
    assert_eq!(
        insight_event["insights"]["understanding"]["intent"],
        "pricing"
    );

    assert_eq!(
        store.lead(tenant, conversation).await.unwrap(),
        Some(first.lead.clone())
    );
    assert_eq!(
        store
            .claim_pipeline(tenant, worker, Millis(2_000), Millis(32_000))
            .await
            .unwrap(),
        Some(3),
        "the cursor moved to the message"
    );
    assert_eq!(
        store
            .message_insights(tenant, conversation, None)
            .await
            .unwrap(),
        [(first.message_id, first.analysis.clone())]
    );

    // Processed again (a crash after the commit, before the node knew): nothing new.
    assert_eq!(
        record(store.as_ref(), tenant, worker, &first)
            .await
            .unwrap(),
        Some(Vec::new())
    );
    assert_eq!(store.stream_head(tenant).await.unwrap().last_offset, 1);

    // An older message scored late never takes the lead back to its score.
    let mut older = insight(conversation, "Not interested", 2, &LeadScore::none());
    older.lead.handoff = HandoffState::Human;
    record(store.as_ref(), tenant, worker, &older)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.lead(tenant, conversation).await.unwrap(),
        Some(first.lead.clone())
    );
    assert_eq!(
        store
            .claim_pipeline(tenant, worker, Millis(3_000), Millis(33_000))
            .await
            .unwrap(),
        Some(3),
        "nor the cursor back"
    );

    // A newer one does.
    let newer = insight(conversation, "Not interested", 9, &first.lead.score);
    record(store.as_ref(), tenant, worker, &newer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.lead(tenant, conversation).await.unwrap(),
        Some(newer.lead.clone())
    );
    assert!(store.advance_pipeline(tenant, worker, 12).await.unwrap());
    assert_eq!(
        store
            .claim_pipeline(tenant, worker, Millis(4_000), Millis(34_000))
            .await
            .unwrap(),
        Some(12)
    );
}

fn change(to: HandoffState, at: i64) -> HandoffChange {
    HandoffChange {
        to,
        trigger: (to == HandoffState::Human).then_some(HandoffTrigger::AgentTookOver),
        only_from: None,
        at: Millis(at),
    }
}

async fn an_agents_handoff_wins_over_the_pipeline_and_idle_ones_go_back_once(backend: Backend) {
    let (store, _db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let worker = node();
    let conversation = ConversationId::new();
    store
        .claim_pipeline(tenant, worker, Millis(1_000), Millis(31_000))
        .await
        .unwrap();

    // An agent takes a conversation the pipeline never scored.
    let (taken, events) = store
        .set_handoff(tenant, conversation, &change(HandoffState::Human, 10_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (taken.handoff, taken.trigger, taken.handoff_at),
        (
            HandoffState::Human,
            Some(HandoffTrigger::AgentTookOver),
            Some(Millis(10_000))
        )
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::ConversationLead);
    let shown: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(shown["handoff"], "human");
    // Taking it again changes nothing.
    assert_eq!(
        store
            .set_handoff(tenant, conversation, &change(HandoffState::Human, 11_000))
            .await
            .unwrap(),
        None
    );

    // The pipeline read the lead before the agent acted: its score lands, the
    // agent's handoff stays.
    let scored = insight(
        conversation,
        "How much is it? I need it today",
        3,
        &LeadScore::none(),
    );
    let mut judged = scored.clone();
    judged.lead.handoff = HandoffState::PendingHuman;
    judged.lead.trigger = Some(HandoffTrigger::HotLead);
    let written = record(store.as_ref(), tenant, worker, &judged)
        .await
        .unwrap()
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(&written[0].data).unwrap();
    let lead_event = &event["lead"];
    assert_eq!(
        (
            lead_event["handoff"].as_str(),
            lead_event["trigger"].as_str()
        ),
        (Some("human"), Some("agent_took_over"))
    );
    let stored = store.lead(tenant, conversation).await.unwrap().unwrap();
    assert_eq!(stored.score, scored.lead.score);
    assert_eq!(
        (stored.handoff, stored.handoff_at),
        (HandoffState::Human, Some(Millis(10_000)))
    );

    // Idle: found once the default (a day) has passed since the handoff.
    let day = 24 * 60 * 60_000;
    let idle = |now: i64| {
        let store = store.clone();
        async move {
            store
                .idle_handoffs(Millis(now), Some(day), 10)
                .await
                .unwrap()
        }
    };
    assert_eq!(idle(10_000 + day - 1).await, []);
    let found = idle(10_000 + day).await;
    assert_eq!(
        found,
        [IdleHandoff {
            tenant,
            conversation,
            handoff_at: Some(Millis(10_000)),
        }]
    );
    // A tenant that switched the idle return off, or set a minute.
    let mut settings = PipelineSettingsDoc::default();
    settings.handoff.idle_return_minutes = None;
    store
        .save_pipeline_settings(tenant, &settings, Millis(1))
        .await
        .unwrap();
    assert_eq!(idle(10_000 + 100 * day).await, []);
    settings.handoff.idle_return_minutes = Some(1);
    store
        .save_pipeline_settings(tenant, &settings, Millis(2))
        .await
        .unwrap();
    assert_eq!(
        store.pipeline_settings(tenant).await.unwrap(),
        Some(settings)
    );
    assert_eq!(idle(10_000 + 59_999).await, []);
    assert_eq!(idle(10_000 + 60_000).await.len(), 1);

    // Back to the bot only from where the sweep found it: once.
    let back = HandoffChange {
        to: HandoffState::Bot,
        trigger: None,
        only_from: Some((HandoffState::Human, Some(Millis(9_999)))),
        at: Millis(80_000),
    };
    assert_eq!(
        store
            .set_handoff(tenant, conversation, &back)
            .await
            .unwrap(),
        None,
        "moved since"
    );
    let back = HandoffChange {
        only_from: Some((HandoffState::Human, Some(Millis(10_000)))),
        ..back
    };
    let (returned, _) = store
        .set_handoff(tenant, conversation, &back)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (returned.handoff, returned.trigger),
        (HandoffState::Bot, None)
    );
    assert_eq!(
        store
            .set_handoff(tenant, conversation, &back)
            .await
            .unwrap(),
        None
    );
    assert_eq!(idle(10_000 + 100 * day).await, []);
    assert_eq!(HandoffRules::default().idle_return_minutes, Some(24 * 60));
}

async fn the_round_robin_goes_through_the_candidates_in_turn(backend: Backend) {
    let (store, _db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let mut agents: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
    agents.sort_by_key(|u| u.0);
    let (a, b, c) = (agents[0], agents[1], agents[2]);
    let mut taken = Vec::new();
    for _ in 0..4 {
        taken.push(
            store
                .next_in_rotation(tenant, &[c, a, b])
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(taken, [a, b, c, a]);
    // b went offline: after a comes c.
    assert_eq!(
        store.next_in_rotation(tenant, &[a, c]).await.unwrap(),
        Some(c)
    );
    assert_eq!(
        store.next_in_rotation(tenant, &[a, c]).await.unwrap(),
        Some(a)
    );
    assert_eq!(store.next_in_rotation(tenant, &[]).await.unwrap(), None);
}

async fn a_batch_of_insights_commits_once_with_its_events_in_stream_order(backend: Backend) {
    let (store, _db) = open_store(backend).await;
    let tenant = store_tenant(store.as_ref()).await;
    let worker = node();
    store
        .claim_pipeline(tenant, worker, Millis(1_000), Millis(31_000))
        .await
        .unwrap();
    let (one, two) = (ConversationId::new(), ConversationId::new());
    let hello = insight(one, "Hello", 3, &LeadScore::none());
    let price = insight(two, "How much is it?", 5, &LeadScore::none());
    let today = insight(one, "I need it today", 8, &hello.lead.score);
    let batch = [hello, price, today];
    let recorded = store
        .record_insights(tenant, worker, &batch, 9)
        .await
        .unwrap()
        .unwrap();
    let shown: Vec<_> = recorded
        .events
        .iter()
        .map(|e| (e.offset, e.kind, e.conversation_id))
        .collect();
    assert_eq!(
        shown,
        [
            (1, EventKind::MessageInsights, one),
            (2, EventKind::MessageInsights, two),
            (3, EventKind::MessageInsights, one),
        ]
    );
    let written: Vec<Option<Lead>> = batch.iter().map(|i| Some(i.lead.clone())).collect();
    assert_eq!(recorded.leads, written);
    assert_eq!(
        store.lead(tenant, one).await.unwrap(),
        Some(batch[2].lead.clone())
    );
    assert_eq!(
        store
            .claim_pipeline(tenant, worker, Millis(2_000), Millis(32_000))
            .await
            .unwrap(),
        Some(9),
        "the cursor moved past the batch"
    );
    // The same batch again writes and publishes nothing.
    let again = store
        .record_insights(tenant, worker, &batch, 9)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.events, again.leads),
        (Vec::new(), vec![None, None, None])
    );
    assert_eq!(store.stream_head(tenant).await.unwrap().last_offset, 3);
}

on_both_backends!(
    one_node_works_a_tenants_pipeline_at_a_time_until_its_lease_runs_out,
    an_insight_its_lead_its_events_and_the_cursor_commit_together_once,
    an_agents_handoff_wins_over_the_pipeline_and_idle_ones_go_back_once,
    the_round_robin_goes_through_the_candidates_in_turn,
    a_batch_of_insights_commits_once_with_its_events_in_stream_order,
);
