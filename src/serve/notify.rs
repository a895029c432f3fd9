//! Announcing job results: a webhook (a JSON body POSTed on success and on
//! failure) and healthchecks.io-style pings (`URL/start` when a job starts,
//! `URL` on success, `URL/fail` with the error as the body on failure).
//!
//! Each announcement runs on its own thread, so a slow or dead receiver
//! never holds up the job runner: every request has a timeout (10 s) and is
//! tried three times with a growing pause. The body carries the job's
//! record and the host name, never a secret; URLs (a healthchecks URL is
//! itself a credential) never appear in log lines.

use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::config::Notify;
use crate::serve::model::JobRecord;

/// Which moment of a job is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvent {
    Start,
    Success,
    Failure,
}

impl NotifyEvent {
    fn name(self) -> &'static str {
        match self {
            NotifyEvent::Start => "start",
            NotifyEvent::Success => "success",
            NotifyEvent::Failure => "failure",
        }
    }
}

/// How hard to try; the defaults are the service's, tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub timeout: Duration,
    pub tries: u32,
    /// The pause after the first failed try; doubled after each.
    pub backoff: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            timeout: Duration::from_secs(10),
            tries: 3,
            backoff: Duration::from_secs(1),
        }
    }
}

/// Announces `event` of `job` to the plan's receivers, on a thread; the
/// handle is for tests (the runner drops it). `None`: nothing to send.
pub fn notify(plan: &Notify, job: &JobRecord, event: NotifyEvent) -> Option<JoinHandle<()>> {
    notify_with(plan, job, event, Delivery::default())
}

/// [`notify`] with other timeouts and retries.
pub fn notify_with(
    plan: &Notify,
    job: &JobRecord,
    event: NotifyEvent,
    delivery: Delivery,
) -> Option<JoinHandle<()>> {
    let requests = requests(plan, job, event);
    if requests.is_empty() {
        return None;
    }
    let job_id = job.id;
    let spawned = std::thread::Builder::new()
        .name("cairn-notify".into())
        .spawn(move || {
            for r in requests {
                if let Err(e) = deliver(&r, delivery) {
                    let what = r.what;
                    tracing::warn!("job {job_id}: the {what} notification failed: {e}");
                }
            }
        });
    match spawned {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!("job {job_id}: could not start the notification thread: {e}");
            None
        }
    }
}

/// One POST to make.
struct Request {
    what: &'static str,
    url: String,
    body: String,
    content_type: &'static str,
}

/// The requests one event makes. `failures_only` quiets the webhook's
/// successes; healthchecks always get all three pings (a missing success
/// ping is what raises their alarm).
fn requests(plan: &Notify, job: &JobRecord, event: NotifyEvent) -> Vec<Request> {
    let mut out = Vec::new();
    let announce = event == NotifyEvent::Failure || !plan.failures_only;
    if let (Some(url), true) = (&plan.webhook, announce && event != NotifyEvent::Start) {
        out.push(Request {
            what: "webhook",
            url: url.clone(),
            body: body(job, event).to_string(),
            content_type: "application/json",
        });
    }
    if let Some(base) = &plan.healthchecks {
        let base = base.trim_end_matches('/');
        let (url, text) = match event {
            NotifyEvent::Start => (format!("{base}/start"), String::new()),
            NotifyEvent::Success => (base.to_string(), String::new()),
            NotifyEvent::Failure => (
                format!("{base}/fail"),
                job.error.clone().unwrap_or_else(|| "failed".into()),
            ),
        };
        out.push(Request {
            what: "healthchecks",
            url,
            body: text,
            content_type: "text/plain; charset=utf-8",
        });
    }
    out
}

/// The webhook's JSON: the job record as the API shows it, plus the event
/// and the host.
pub fn body(job: &JobRecord, event: NotifyEvent) -> Value {
    let mut v = serde_json::to_value(job).unwrap_or_else(|_| Value::Object(Default::default()));
    v["event"] = event.name().into();
    v["host"] = cairn::time::hostname().into();
    v
}

/// POSTs `body`, up to `tries` times. Errors say what went wrong, never the URL.
fn deliver(r: &Request, d: Delivery) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(d.timeout))
        .build()
        .into();
    let mut pause = d.backoff;
    let mut last = String::new();
    for attempt in 1..=d.tries.max(1) {
        let sent = agent
            .post(&r.url)
            .header("Content-Type", r.content_type)
            .header("User-Agent", concat!("cairn/", env!("CARGO_PKG_VERSION")))
            .send(r.body.as_str());
        match sent {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string().replace(&r.url, "[url]"),
        }
        if attempt < d.tries {
            std::thread::sleep(pause);
            pause *= 2;
        }
    }
    Err(format!("{} tries: {last}", d.tries))
}

#[cfg(test)]
#[path = "notify_tests.rs"]
mod tests;
