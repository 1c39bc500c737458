//! Contacts in and out as CSV through the REST API: a previewed import read by the
//! job runner with its progress on the admin's socket, its error report, a second
//! run of the same file that creates nobody twice, and exports.

use crate::common;

use common::wait::until;
use common::{Backend, TestApp, spawn_app_with, subscribed_owner};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FILE: &str = "Name,Phone,Email,Seats,Tags\n\
    Ana Lima,+1 415 555 0132,,12,new\n\
    Ben,,ben@example.com,3,\n\
    Cy,,,,\n\
    Dee,+49 30 901820,,many,\n\
    Eve,030 901821,EVE@example.com,,\"new; trial\"\n";

fn mapping() -> Value {
    json!({"Name": "name", "Phone": "phone", "Email": "email", "Seats": "field:seats", "Tags": "tags"})
}

async fn app(backend: Backend) -> (TestApp, String) {
    let app = spawn_app_with(backend, |config| config.jobs.poll_ms = 20).await;
    let (owner, _) = app.owner_session().await;
    let seats = app
        .post(
            "/api/v1/contact-fields",
            Some(&owner),
            json!({"key": "seats", "label": "Seats", "kind": "number"}),
        )
        .await;
    assert_eq!(seats.status, StatusCode::CREATED, "{}", seats.body);
    (app, owner)
}

async fn contact_named(app: &TestApp, token: &str, name: &str) -> Value {
    let found = app
        .get(&format!("/api/v1/contacts?q={name}"), Some(token))
        .await;
    let all = found.body["data"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{}", found.body);
    all[0].clone()
}

async fn a_csv_import_is_previewed_then_run_with_progress_on_the_admins_socket_and_an_error_report(
    backend: Backend,
) {
    let (app, _) = app(backend).await;
    let (owner, mut admin, _) = subscribed_owner(&app).await;
    let ana = app
        .post("/api/v1/contacts", Some(&owner), json!({"name": "Ana", "phones": ["+14155550132"], "tags": ["vip"], "custom_fields": {"source": "fair"}}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let preview = app
        .post(
            "/api/v1/contacts/imports",
            Some(&owner),
            json!({"csv": FILE, "mapping": mapping(), "default_country": "de", "dry_run": true}),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(
        (
            &preview.body["total"],
            &preview.body["valid"],
            &preview.body["refused"]
        ),
        (&json!(5), &json!(3), &json!(2))
    );
    let actions: Vec<(u64, &str, Value)> = preview.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["action"].as_str().unwrap(),
                r["contact_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            (2, "update", json!(ana)),
            (3, "create", Value::Null),
            (6, "create", Value::Null)
        ]
    );
    assert_eq!(preview.body["rows"][2]["phones"], json!(["+4930901821"]));
    assert_eq!(preview.body["rows"][2]["tags"], json!(["new", "trial"]));
    assert_eq!(
        preview.body["errors"],
        json!([
            {"line": 4, "reason": "needs a phone or an email, to match it to a contact"},
            {"line": 5, "reason": "custom field 'seats' takes a number; got \"many\""},
        ])
    );
    // A dry run changes nothing.
    let listed = app.get("/api/v1/contacts", Some(&owner)).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);

    let queued = app
        .post(
            "/api/v1/contacts/imports",
            Some(&owner),
            json!({"csv": FILE, "mapping": mapping(), "default_country": "DE"}),
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    assert_eq!(
        (&queued.body["status"], &queued.body["total"]),
        (&json!("queued"), &json!(5))
    );
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let done = loop {
        let frame = admin.next_of(&["contacts.import"]).await;
        assert_eq!(frame["import_id"], id.as_str());
        if frame["data"]["status"] == "done" {
            break frame["data"].clone();
        }
    };
    let counts =
        |v: &Value| ["processed", "created", "updated", "failed"].map(|k| v[k].as_u64().unwrap());
    assert_eq!(counts(&done), [5, 2, 1, 2]);
    let status = app
        .get(&format!("/api/v1/contacts/imports/{id}"), Some(&owner))
        .await;
    assert_eq!(status.body, done);

    let report = app
        .get(
            &format!("/api/v1/contacts/imports/{id}/errors"),
            Some(&owner),
        )
        .await;
    assert_eq!(report.status, StatusCode::OK);
    assert_eq!(report.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        report.body,
        "line,error,Name,Phone,Email,Seats,Tags\n\
         4,\"needs a phone or an email, to match it to a contact\",Cy,,,,\n\
         5,\"custom field 'seats' takes a number; got \"\"many\"\"\",Dee,+49 30 901820,,many,\n"
    );

    let updated = contact_named(&app, &owner, "lima").await;
    assert_eq!(updated["id"], ana.as_str());
    assert_eq!(updated["tags"], json!(["vip", "new"]));
    assert_eq!(
        updated["custom_fields"],
        json!({"source": "fair", "seats": 12})
    );
    let eve = contact_named(&app, &owner, "eve").await;
    assert_eq!(
        (&eve["phones"], &eve["emails"]),
        (&json!(["+4930901821"]), &json!(["eve@example.com"]))
    );

    // The same file again finds everyone it created.
    let again = app
        .post(
            "/api/v1/contacts/imports",
            Some(&owner),
            json!({"csv": FILE, "mapping": mapping(), "default_country": "DE"}),
        )
        .await;
    let again_id = again.body["id"].as_str().unwrap().to_owned();
    let second = loop {
        let frame = admin.next_of(&["contacts.import"]).await;
        if frame["import_id"] == again_id.as_str() && frame["data"]["status"] == "done" {
            break frame["data"].clone();
        }
    };
    assert_eq!(counts(&second), [5, 0, 3, 2]);
    let listed = app.get("/api/v1/contacts", Some(&owner)).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 3);

    let audit = app.get("/api/v1/audit-log?limit=100", Some(&owner)).await;
    let imports = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "contact.import")
        .count();
    assert_eq!(imports, 2);
}

async fn contacts_export_as_csv_with_custom_fields_as_columns_for_everyone_or_a_segment(
    backend: Backend,
) {
    let (app, owner) = app(backend).await;
    let mut made = Vec::new();
    for contact in [
        json!({"name": "Ana, the first", "phones": ["+14155550132"], "tags": ["vip", "new"], "custom_fields": {"seats": 12}}),
        json!({"name": "Ben", "emails": ["ben@example.com", "b@example.com"]}),
    ] {
        let reply = app.post("/api/v1/contacts", Some(&owner), contact).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        made.push(reply.body);
    }
    let id_of = |c: &Value| c["id"].as_str().unwrap().to_owned();
    let at_of = |c: &Value| c["created_at"].as_str().unwrap().to_owned();
    let (ana, ben) = (&made[0], &made[1]);
    let ana_line = format!(
        "{},\"Ana, the first\",+14155550132,,vip;new,false,{},12\n",
        id_of(ana),
        at_of(ana)
    );
    let ben_line = format!(
        "{},Ben,,ben@example.com;b@example.com,,false,{},\n",
        id_of(ben),
        at_of(ben)
    );
    let header = "id,name,phones,emails,tags,opted_out,created_at,seats\n";
    let all = app.get("/api/v1/contacts/export", Some(&owner)).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        all.headers["content-disposition"],
        "attachment; filename=\"contacts.csv\""
    );
    assert_eq!(all.body, format!("{header}{ben_line}{ana_line}"));

    let segment = app
        .post(
            "/api/v1/segments",
            Some(&owner),
            json!({"name": "VIPs", "filter": {"has_tag": "vip"}}),
        )
        .await;
    let id = segment.body["id"].as_str().unwrap();
    let vips = app
        .get(
            &format!("/api/v1/contacts/export?segment_id={id}"),
            Some(&owner),
        )
        .await;
    assert_eq!(vips.body, format!("{header}{ana_line}"));
}

async fn an_import_whose_mapping_does_not_fit_its_file_is_refused_whole_and_only_admins_import(
    backend: Backend,
) {
    let (app, owner) = app(backend).await;
    let refusals = [
        (
            json!({"csv": FILE, "mapping": {"Mobile": "phone"}}),
            "the file has no column 'Mobile'",
        ),
        (
            json!({"csv": FILE, "mapping": {"Phone": "fax"}}),
            "'fax' is not a column target (name, phone, email, tags, field:<key>, skip)",
        ),
        (
            json!({"csv": FILE, "mapping": {"Phone": "phone"}, "default_country": "Atlantis"}),
            "'Atlantis' is not a two-letter country code such as DE",
        ),
    ];
    for (body, why) in refusals {
        let reply = app
            .post("/api/v1/contacts/imports", Some(&owner), body)
            .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::BAD_REQUEST, "invalid_request")
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(why), "{message}");
    }
    let (_, manager) = app
        .user_with_role(&owner, "manager@example.com", "manager")
        .await;
    let refused = app
        .post(
            "/api/v1/contacts/imports",
            Some(&manager),
            json!({"csv": FILE, "mapping": mapping(), "dry_run": true}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
}

async fn an_import_that_fails_part_way_goes_on_from_its_last_saved_chunk_and_creates_nobody_twice(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |config| {
        config.jobs.poll_ms = 20;
        config.jobs.retry_base_ms = 20;
        config.jobs.retry_max_secs = 1;
    })
    .await;
    let (owner, _) = app.owner_session().await;
    let mut file = String::from("Name,Email\n");
    for i in 1..=250 {
        let name = if i == 180 {
            "Stuck Row".to_owned()
        } else {
            format!("Row {i}")
        };
        file.push_str(&format!("{name},row{i}@example.com\n"));
    }
    common::refuse_stuck_row_contacts(&app.db, backend, true).await;
    let queued = app
        .post(
            "/api/v1/contacts/imports",
            Some(&owner),
            json!({"csv": file, "mapping": {"Name": "name", "Email": "email"}}),
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    let id = queued.body["id"].as_str().unwrap().to_owned();
    // The first chunk of 100 is saved; the second fails at row 180, after creating
    // rows 101 to 179, and its job waits for another try.
    until("the import job failed once at the stuck row", || async {
        let jobs = app.get("/api/v1/jobs?state=queued", Some(&owner)).await;
        jobs.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| {
                j["kind"] == "contacts.import"
                    && j["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("injected failure"))
            })
            .then_some(())
    })
    .await;
    let stuck = app
        .get(&format!("/api/v1/contacts/imports/{id}"), Some(&owner))
        .await;
    assert_eq!(
        (&stuck.body["status"], &stuck.body["processed"]),
        (&json!("running"), &json!(100))
    );

    common::refuse_stuck_row_contacts(&app.db, backend, false).await;
    let done = until("the import is done", || async {
        let status = app
            .get(&format!("/api/v1/contacts/imports/{id}"), Some(&owner))
            .await;
        (status.body["status"] == "done").then_some(status.body)
    })
    .await;
    assert_eq!(
        (&done["processed"], &done["failed"]),
        (&json!(250), &json!(0))
    );
    // Rows 101 to 179 were created before the failure and found again after it.
    assert_eq!(
        (&done["created"], &done["updated"]),
        (&json!(171), &json!(79))
    );
    let export = app.get("/api/v1/contacts/export", Some(&owner)).await;
    let lines: Vec<&str> = export.body.as_str().unwrap().lines().skip(1).collect();
    assert_eq!(lines.len(), 250);
    let mut emails: Vec<&str> = lines.iter().map(|l| l.split(',').nth(3).unwrap()).collect();
    emails.sort_unstable();
    emails.dedup();
    assert_eq!(emails.len(), 250, "every row's contact once");
}

on_both_backends!(
    a_csv_import_is_previewed_then_run_with_progress_on_the_admins_socket_and_an_error_report,
    contacts_export_as_csv_with_custom_fields_as_columns_for_everyone_or_a_segment,
    an_import_whose_mapping_does_not_fit_its_file_is_refused_whole_and_only_admins_import,
    an_import_that_fails_part_way_goes_on_from_its_last_saved_chunk_and_creates_nobody_twice,
);
