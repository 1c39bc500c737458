//! The job that reads a contacts import: row by row in file order, a chunk at a time,
//! each row creating a contact or updating the one it matches (by phone, then email,
//! against the book's handles read once per run); progress is saved
//! (with a `contacts.import` event) after every chunk, so a runner that dies goes on
//! where the last chunk ended. A chunk read again after a crash matches the contacts
//! it created, so no person is created twice.

use super::import::{self, Import, ImportStatus, Row};
use super::scan::{self, Handles, remember};
use crate::inbox::Inbox;
use crate::inbox::records::{
    Contact, ContactChange, MAX_CONTACT_EMAILS, MAX_CONTACT_PHONES, MAX_CONTACT_TAGS,
};
use crate::jobs::Job;
use crate::jobs::runner::{JobFailure, JobHandler};
use crate::store::{Store, StoreError};
use crate::{ContactId, ImportId, Millis, TenantId};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The job kind; its payload names the import.
pub const IMPORT_JOB: &str = "contacts.import";

/// Rows read between two saves of the progress.
const CHUNK: usize = 100;

/// How long one run reads before it hands the job back to go on in the next (well
/// within the job timeout, so a long file never times out or uses up attempts).
const SLICE: Duration = Duration::from_secs(20);

#[derive(Deserialize)]
struct Payload {
    import_id: ImportId,
}

pub struct ImportRunner {
    store: Arc<dyn Store>,
    inbox: Inbox,
}

impl ImportRunner {
    pub fn new(store: Arc<dyn Store>, inbox: Inbox) -> Self {
        Self { store, inbox }
    }

    /// Creates the row's contact, or adds the row to the contact it matches; true
    /// when it created one.
    async fn take(
        &self,
        tenant: TenantId,
        row: &Row,
        handles: &mut Handles,
    ) -> Result<bool, StoreError> {
        let matched = row
            .phones
            .iter()
            .map(|p| p.as_str())
            .chain(row.emails.iter().map(|e| e.as_str()))
            .find_map(|handle| handles.get(handle).copied());
        let existing = match matched {
            Some(id) => self.store.contact(tenant, id).await?,
            None => None,
        };
        let Some(existing) = existing else {
            let now = Millis::now();
            let first_handle = row
                .phones
                .first()
                .map(|p| p.as_str().to_owned())
                .or_else(|| row.emails.first().map(|e| e.as_str().to_owned()));
            let contact = Contact {
                tenant_id: tenant,
                id: ContactId::new(),
                name: row.name.clone().or(first_handle).unwrap_or_default(),
                phones: row.phones.clone(),
                emails: row.emails.clone(),
                identities: Vec::new(),
                custom_fields: row.fields.clone(),
                tags: row.tags.clone(),
                merged_into: None,
                consent: None,
                created_at: now,
                updated_at: now,
            };
            self.store.create_contact(&contact).await?;
            remember(handles, &contact);
            return Ok(true);
        };
        let changed = self
            .store
            .update_contact(tenant, existing.id, &merged(&existing, row), Millis::now())
            .await?;
        if let Some(changed) = changed {
            remember(handles, &changed.contact);
            // A new name shows in the contact's conversations.
            self.inbox.publish(tenant, changed.events);
        }
        Ok(false)
    }
}

/// What a row adds to a contact it matches: its name, phones, emails and tags
/// joined to the contact's (within the contact's limits), its fields over theirs.
fn merged(contact: &Contact, row: &Row) -> ContactChange {
    fn joined<T: Clone + PartialEq>(mut kept: Vec<T>, added: &[T], max: usize) -> Vec<T> {
        for item in added {
            if kept.len() < max && !kept.contains(item) {
                kept.push(item.clone());
            }
        }
        kept
    }
    let mut fields = contact.custom_fields.clone();
    fields.extend(row.fields.clone());
    ContactChange {
        name: row.name.clone(),
        phones: Some(joined(
            contact.phones.clone(),
            &row.phones,
            MAX_CONTACT_PHONES,
        )),
        emails: Some(joined(
            contact.emails.clone(),
            &row.emails,
            MAX_CONTACT_EMAILS,
        )),
        custom_fields: Some(fields),
        tags: Some(joined(contact.tags.clone(), &row.tags, MAX_CONTACT_TAGS)),
    }
}

fn store_failure(err: StoreError) -> JobFailure {
    JobFailure::Retry(err.to_string())
}

#[async_trait]
impl JobHandler for ImportRunner {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let payload: Payload = serde_json::from_value(job.payload.clone())
            .map_err(|err| JobFailure::Permanent(format!("not an import job: {err}")))?;
        let tenant = job.tenant_id;
        let Some(mut import) = self
            .store
            .import(tenant, payload.import_id)
            .await
            .map_err(store_failure)?
        else {
            return Err(JobFailure::Permanent("the import is gone".to_owned()));
        };
        if import.status == ImportStatus::Done {
            return Ok(());
        }
        let definitions = self.store.fields(tenant).await.map_err(store_failure)?;
        // The file was read when the import was made; a definition changed since
        // refuses rows rather than the whole file.
        let sheet = import::read(
            &import.csv,
            &import.mapping,
            &definitions,
            import.default_country.as_deref(),
        )
        .map_err(|refused| JobFailure::Permanent(refused.0))?;
        import.status = ImportStatus::Running;
        let began = Instant::now();
        let mut handles = scan::handles(self.store.as_ref(), tenant)
            .await
            .map_err(store_failure)?;
        let start = usize::try_from(import.processed).unwrap_or(usize::MAX);
        for chunk in sheet.rows.get(start..).unwrap_or_default().chunks(CHUNK) {
            if began.elapsed() >= SLICE {
                return Err(JobFailure::Continue);
            }
            for outcome in chunk {
                match outcome {
                    Ok(row) => match self.take(tenant, row, &mut handles).await {
                        Ok(true) => import.created += 1,
                        Ok(false) => import.updated += 1,
                        Err(StoreError::Backend(err)) => return Err(JobFailure::Retry(err)),
                        Err(StoreError::Busy) => {
                            return Err(JobFailure::Retry("the database is busy".to_owned()));
                        }
                        Err(refused) => note_refused(
                            &mut import,
                            &import::Refused {
                                line: row.line,
                                reason: refused.to_string(),
                                cells: Vec::new(),
                            },
                        ),
                    },
                    Err(refused) => note_refused(&mut import, refused),
                }
                import.processed += 1;
            }
            save(self, &mut import).await?;
        }
        import.status = ImportStatus::Done;
        save(self, &mut import).await
    }
}

/// A refused row counted and in the report, with its line.
fn note_refused(import: &mut Import, refused: &import::Refused) {
    import.failed += 1;
    import.errors.push_str(&import::error_line(refused));
}

async fn save(runner: &ImportRunner, import: &mut Import) -> Result<(), JobFailure> {
    import.updated_at = Millis::now();
    let event = runner
        .store
        .save_import(import)
        .await
        .map_err(store_failure)?;
    runner.inbox.publish(import.tenant_id, vec![event]);
    Ok(())
}
