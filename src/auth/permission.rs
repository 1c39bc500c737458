//! The permission table: for each action, the least role a user needs and the scope
//! an API key needs (none means keys may not do it at all).

use switchboard_actors::{Role, Scope};

pub trait Permission: 'static {
    const ROLE: Role;
    const SCOPE: Option<Scope>;
    /// Completes "this needs …" in a 403 message.
    const ACTION: &'static str;
}

macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident => ($role:ident, $scope:expr, $action:literal);)+) => {$(
        $(#[$doc])*
        pub struct $name;
        impl Permission for $name {
            const ROLE: Role = Role::$role;
            const SCOPE: Option<Scope> = $scope;
            const ACTION: &'static str = $action;
        }
    )+};
}

permissions! {
    /// Anything a signed-in person of the tenant may do, whatever their role.
    Member => (Viewer, None, "a signed-in user");
    ReadUsers => (Manager, Some(Scope::UsersRead), "listing users");
    ManageUsers => (Admin, Some(Scope::UsersWrite), "managing users");
    /// Keys cannot mint keys: a leaked key must not be able to entrench itself.
    ManageApiKeys => (Admin, None, "managing API keys");
    ReadAudit => (Admin, Some(Scope::AuditRead), "reading the audit log");
    /// Viewers follow the inbox read-only.
    ReadInbox => (Viewer, Some(Scope::ConversationsRead), "reading conversations");
    /// Replying, notes, status, assignment, tags; also playing sandbox customers.
    WorkInbox => (Agent, Some(Scope::ConversationsWrite), "working on conversations");
    ManageTags => (Manager, Some(Scope::ConversationsWrite), "managing the tag list");
    ManageQuickReplies => (Manager, Some(Scope::ConversationsWrite), "managing quick replies");
    ReadContacts => (Viewer, Some(Scope::ContactsRead), "reading contacts");
    WriteContacts => (Agent, Some(Scope::ContactsWrite), "changing contacts");
    MergeContacts => (Manager, Some(Scope::ContactsWrite), "merging contacts");
    /// Saved contact filters, what broadcasts are sent to.
    ManageSegments => (Manager, Some(Scope::ContactsWrite), "managing segments");
    /// One message to many customers at once; its progress goes to admins' sockets.
    SendBroadcasts => (Admin, Some(Scope::ConversationsWrite), "sending broadcasts");
    /// A CSV file's contacts in one go; its progress goes to admins' sockets.
    ImportContacts => (Admin, Some(Scope::ContactsWrite), "importing contacts");
    /// What every contact's custom fields may hold.
    ManageContactFields => (Admin, Some(Scope::SettingsWrite), "managing custom fields");
    /// Channels hold provider credentials; their dead letters and webhook log too.
    ManageChannels => (Admin, Some(Scope::ChannelsWrite), "managing channels");
    /// Handoff triggers, the tenant's own intents, how handoffs are assigned.
    ManageSettings => (Admin, Some(Scope::SettingsWrite), "managing the pipeline settings");
    /// Automation rules act for the team: reading and changing them, their runs, and
    /// the tenant's jobs.
    ManageAutomations => (Admin, Some(Scope::SettingsWrite), "managing automations");
    /// Webhook endpoints receive every event of the tenant, and hold signing secrets.
    ManageWebhooks => (Admin, Some(Scope::SettingsWrite), "managing webhooks");
}
