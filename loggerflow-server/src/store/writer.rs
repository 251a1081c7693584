//! The one task that writes ingest data, in batched transactions.
//!
//! Handlers submit a [`Job`] (the messages of one request or frame) and wait
//! for its answer, which comes only after the transaction holding it is
//! committed: an acknowledged report is on disk. Jobs that queue up while a
//! transaction runs go into the next one together, so ingest is not one
//! transaction per report. Each job runs in its own savepoint, so a job that
//! is refused (an unknown instance) leaves no half-written row and does not
//! spoil the others.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

use loggerflow_layer::protocol::{Hello, Metrics};
use loggerflow_layer::{Report, ReportId};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, fingerprint::fingerprint, now_ms, sql};
use crate::changes::Topic;
use crate::ingest::quota::{New, Quota};

/// Project ids the writer remembers at most (the least recently used go).
const PROJECT_CACHE: usize = 4096;

/// The writer's cache of project ids by name.
type ProjectCache = lru::LruCache<String, i64>;

/// One thing to write.
#[derive(Debug)]
pub enum Op {
    /// An instance introduced itself.
    Hello {
        /// What it said.
        hello: Hello,
        /// The people its backends mention (a Python app's handshake
        /// names them; the native hello does not).
        authors: Vec<String>,
    },
    /// An instance is alive.
    Heartbeat {
        /// Its id.
        instance: String,
        /// Its readings.
        metrics: Metrics,
    },
    /// A report, from an instance when known (made by [`Op::report`]).
    Report {
        /// The sending instance.
        instance: Option<String>,
        /// The report.
        report: Box<Report>,
        /// What the writer stores of it, prepared by the handler.
        prepared: Prepared,
    },
    /// An instance stopped on purpose.
    Goodbye {
        /// Its id.
        instance: String,
    },
    /// An instance's websocket connection `connection` (a generation, new
    /// for each socket) is now its live one.
    Connected {
        /// Its id.
        instance: String,
        /// The connection's generation.
        connection: String,
    },
    /// An instance that lives only as long as one connection (a Python
    /// websocket process) is gone with it, without an alarm: the server is
    /// stopping, and the process comes back as a new instance.
    Forget {
        /// Its id.
        instance: String,
        /// The connection it lived on.
        connection: String,
    },
    /// An instance's websocket closed without a goodbye: it is offline,
    /// unless another connection of it took over since.
    Disconnected {
        /// Its id.
        instance: String,
        /// The connection that closed.
        connection: String,
    },
}

/// What is stored of a report, prepared in the ingest handler (in
/// parallel, off the writer's one task): its compressed body, group key and
/// title.
#[derive(Debug)]
pub struct Prepared {
    body: Vec<u8>,
    fingerprint: String,
    title: String,
    /// Its environment as stored (`production` when it names none).
    environment: String,
    /// Its release as stored (`""` when it names none).
    release: String,
}

impl Op {
    /// An instance's hello, naming no authors.
    pub fn hello(hello: Hello) -> Self {
        Op::Hello {
            hello,
            authors: Vec::new(),
        }
    }

    /// A report to store, from `instance` when known.
    pub fn report(instance: Option<String>, report: Box<Report>) -> Result<Self, StoreError> {
        let prepared = Prepared {
            body: super::payload::encode(&report)?,
            fingerprint: clean(&fingerprint(&report)),
            title: clean(&report.title()).chars().take(300).collect(),
            environment: super::releases::environment(report.environment.as_deref()),
            release: super::releases::version(report.release.as_deref()),
        };
        Ok(Op::Report {
            instance,
            report,
            prepared,
        })
    }
}

/// Why a job was refused.
#[derive(Debug)]
pub enum IngestError {
    /// A heartbeat or goodbye for an instance that never said hello.
    UnknownInstance(String),
    /// The client created more projects or instances than it may; it may
    /// try again after the duration.
    TooManyNew(New, std::time::Duration),
    /// The database failed; nothing of the job was stored.
    Store(StoreError),
}

/// What a stored job acknowledges.
#[derive(Debug, Default)]
pub struct Done {
    /// Reports stored (now or before: a re-sent id is acknowledged again).
    pub acked: Vec<ReportId>,
    /// Whether a heartbeat brought an instance back online (for the live
    /// pages: a status, not only readings).
    back_online: bool,
}

struct Job {
    ops: Vec<Op>,
    /// Who sent it, for the creation quota (`None`: not limited).
    client: Option<IpAddr>,
    reply: oneshot::Sender<Result<Done, IngestError>>,
}

/// What the writer task receives: ingest jobs, or a project to delete (done
/// by the writer so its cache of project ids never names a deleted one).
enum Work {
    Write(Job),
    /// Write what is queued (until the stop deadline), then stop (the
    /// server is shutting down).
    Stop,
    DeleteProject {
        name: String,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// One chunk of report retention ([`super::retention::prune_chunk`]),
    /// in a transaction of its own between two batches.
    Prune {
        project: i64,
        target: super::retention::Target,
        limit: u64,
        from: Option<super::retention::Cursor>,
        reply: oneshot::Sender<Result<super::retention::Chunk, StoreError>>,
    },
}

/// The handle handlers submit jobs through.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Work>,
    /// When the server stops: the time by which any write in progress is
    /// given up (rolled back, not acknowledged).
    deadline: Arc<tokio::sync::watch::Sender<Option<tokio::time::Instant>>>,
}

/// What the writer's jobs share.
struct Shared {
    /// What each client may still create.
    quota: Quota,
    /// This server's id (`store::servers`): the holder of the websockets
    /// whose connections it records.
    server: String,
    /// Where committed changes are told (the dashboard's live pages).
    changes: crate::changes::Changes,
}

/// Jobs in one transaction at most.
const MAX_BATCH: usize = 512;

impl Writer {
    /// Starts the writer task on `db` for the server `server`
    /// ([`super::servers::new_id`]), creating projects and instances for
    /// each client within `quota`, and telling `changes` what each commit
    /// changed. It ends once every `Writer` is dropped and the queued jobs
    /// are written.
    pub fn spawn(
        db: DatabaseConnection,
        quota: Quota,
        server: String,
        changes: crate::changes::Changes,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4096);
        let (deadline, deadline_rx) = tokio::sync::watch::channel(None);
        let shared = Shared {
            quota,
            server,
            changes,
        };
        let task = tokio::spawn(run(db, rx, Arc::new(shared), deadline_rx));
        (
            Self {
                tx,
                deadline: Arc::new(deadline),
            },
            task,
        )
    }

    /// Deletes the project `name` with everything it stored, after the jobs
    /// queued before; false if there is none of that name.
    pub async fn delete_project(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.ask(|reply| Work::DeleteProject { name, reply }).await
    }

    /// Sends the writer `work` made with a reply channel, and waits for its
    /// answer.
    async fn ask<T>(
        &self,
        work: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Work,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(work(reply)).await.is_err() {
            return Err(StoreError::Unavailable(
                "the server is shutting down".into(),
            ));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the writer stopped".into())))
    }

    /// Deletes up to `limit` of `project`'s oldest reports that `target`
    /// names after `from`, in a transaction of its own run between two
    /// ingest batches ([`super::retention::prune_chunk`]).
    pub async fn prune(
        &self,
        project: i64,
        target: super::retention::Target,
        limit: u64,
        from: Option<super::retention::Cursor>,
    ) -> Result<super::retention::Chunk, StoreError> {
        self.ask(|reply| Work::Prune {
            project,
            target,
            limit,
            from,
            reply,
        })
        .await
    }

    /// Stops the writer once everything queued before is written; later
    /// jobs are refused as "shutting down" (503). Await the writer's task
    /// (from [`Writer::spawn`]) to know it stopped.
    ///
    /// Whatever is being written at `deadline` (a database that hangs) is
    /// given up: rolled back and not acknowledged, so its clients send it
    /// to the next server.
    pub async fn close(&self, deadline: tokio::time::Instant) {
        self.deadline.send_replace(Some(deadline));
        let _ = tokio::time::timeout_at(deadline, self.tx.send(Work::Stop)).await;
    }

    /// Writes `ops` and waits until they are committed (no creation quota:
    /// for jobs that come from the server itself).
    pub async fn submit(&self, ops: Vec<Op>) -> Result<Done, IngestError> {
        self.write(None, ops).await
    }

    /// Writes `ops` sent by `client` (within its creation quota) and waits
    /// until they are committed.
    pub async fn submit_from(&self, client: IpAddr, ops: Vec<Op>) -> Result<Done, IngestError> {
        self.write(Some(client), ops).await
    }

    /// Jobs waiting for the writer (queued, not yet taken).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    async fn write(&self, client: Option<IpAddr>, ops: Vec<Op>) -> Result<Done, IngestError> {
        let reports = ops
            .iter()
            .filter(|op| matches!(op, Op::Report { .. }))
            .count();
        crate::telemetry::get()
            .reports_received
            .inc_by(reports as u64);
        let (reply, answer) = oneshot::channel();
        let job = Job { ops, client, reply };
        if self.tx.send(Work::Write(job)).await.is_err() {
            return Err(IngestError::Store(StoreError::Unavailable(
                "the server is shutting down".into(),
            )));
        }
        answer.await.unwrap_or_else(|_| {
            Err(IngestError::Store(StoreError::Unavailable(
                "the writer stopped".into(),
            )))
        })
    }
}

/// Runs `write` unless the stop deadline (once set) passes first: then the
/// write is dropped (its transaction rolls back, its jobs are answered
/// "unavailable") and `false` is returned.
async fn until_deadline(
    deadline: &mut tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
    write: impl std::future::Future<Output = ()>,
) -> bool {
    let passed = async {
        loop {
            let set = *deadline.borrow_and_update();
            match set {
                Some(at) => {
                    tokio::time::sleep_until(at).await;
                    return;
                }
                None => {
                    if deadline.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = write => true,
        () = passed => false,
    }
}

async fn run(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Work>,
    shared: Arc<Shared>,
    mut deadline: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
) {
    let mut projects =
        ProjectCache::new(NonZeroUsize::new(PROJECT_CACHE).unwrap_or(NonZeroUsize::MIN));
    let mut next: Option<Work> = None;
    loop {
        let work = match next.take() {
            Some(work) => work,
            None => match rx.recv().await {
                Some(work) => work,
                None => return,
            },
        };
        match work {
            Work::Stop => {
                // what was queued before the stop is written, until the
                // deadline; the channel closes when this returns, so later
                // jobs are refused ("shutting down"). A batch cut off at the
                // deadline rolls back and its jobs are not acknowledged
                rx.close();
                let mut queued = Vec::new();
                while let Ok(work) = rx.try_recv() {
                    if let Work::Write(job) = work {
                        queued.push(job);
                    }
                }
                while !queued.is_empty() {
                    let rest = queued.split_off(queued.len().min(MAX_BATCH));
                    let write = write_batch(&db, &mut projects, &shared, queued);
                    if !until_deadline(&mut deadline, write).await {
                        break;
                    }
                    queued = rest;
                }
                return;
            }
            Work::DeleteProject { name, reply } => {
                let outcome = super::projects::delete(&db, &name).await;
                projects.clear();
                if matches!(outcome, Ok(true)) {
                    shared.changes.publish(Topic::Projects, None);
                    shared.changes.publish(Topic::Errors, Some(&name));
                    // its alarm history went with it
                    shared.changes.publish(Topic::Alarms, None);
                }
                let _ = reply.send(outcome);
            }
            Work::Prune {
                project,
                target,
                limit,
                from,
                reply,
            } => {
                let outcome = prune(&db, project, target, limit, from).await;
                if let Ok(chunk) = &outcome
                    && chunk.deleted > 0
                {
                    // its groups' `pruned`, and reports a page may link to
                    if let Ok(name) = super::projects::name(&db, project).await {
                        shared.changes.publish(Topic::Errors, Some(&name));
                    }
                }
                let _ = reply.send(outcome);
            }
            Work::Write(first) => {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Work::Write(job)) => jobs.push(job),
                        // a deletion waits for the jobs queued before it
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if !until_deadline(
                    &mut deadline,
                    write_batch(&db, &mut projects, &shared, jobs),
                )
                .await
                {
                    // the server stops and the database hangs: what is
                    // queued is refused (the channel closes with this task)
                    return;
                }
            }
        }
    }
}

/// One retention chunk in its own write transaction.
async fn prune(
    db: &DatabaseConnection,
    project: i64,
    target: super::retention::Target,
    limit: u64,
    from: Option<super::retention::Cursor>,
) -> Result<super::retention::Chunk, StoreError> {
    let txn = super::begin_write(db).await?;
    let deleted = super::retention::prune_chunk(&txn, project, target, limit, from).await?;
    txn.commit().await?;
    Ok(deleted)
}

async fn write_batch(
    db: &DatabaseConnection,
    projects: &mut ProjectCache,
    shared: &Shared,
    jobs: Vec<Job>,
) {
    let mut replies = Vec::with_capacity(jobs.len());
    let mut ops = Vec::with_capacity(jobs.len());
    for job in jobs {
        ops.push((job.client, job.ops));
        replies.push(job.reply);
    }
    let mut created = HashMap::new();
    let started = std::time::Instant::now();
    match write_jobs(db, projects, shared, &mut created, &ops).await {
        Ok(outcomes) => {
            let telemetry = crate::telemetry::get();
            telemetry
                .batch_seconds
                .observe(started.elapsed().as_secs_f64());
            let reports = ops
                .iter()
                .flat_map(|(_, ops)| ops)
                .filter(|op| matches!(op, Op::Report { .. }))
                .count();
            telemetry.batch_reports.observe(reports as f64);
            let stored: usize = outcomes
                .iter()
                .filter_map(|o| o.as_ref().ok())
                .map(|done| done.acked.len())
                .sum();
            telemetry.reports_stored.inc_by(stored as u64);
            for (name, id) in created {
                projects.put(name, id);
            }
            tell(&shared.changes, &ops, &outcomes);
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome);
            }
        }
        Err(error) => {
            // the transaction rolled back: nothing of the batch is stored
            let message = error.to_string();
            for reply in replies {
                let _ = reply.send(Err(IngestError::Store(StoreError::Unavailable(
                    message.clone(),
                ))));
            }
        }
    }
}

/// Tells the dashboard's live pages what the committed jobs changed: a job
/// of heartbeats only changes the projects table's readings, any other its
/// statuses or counts; reports change their project's errors.
fn tell(
    changes: &crate::changes::Changes,
    jobs: &[(Option<IpAddr>, Vec<Op>)],
    outcomes: &[Result<Done, IngestError>],
) {
    let (mut projects, mut readings) = (false, false);
    for ((_, ops), outcome) in jobs.iter().zip(outcomes) {
        let Ok(done) = outcome else {
            continue;
        };
        if !done.back_online && ops.iter().all(|op| matches!(op, Op::Heartbeat { .. })) {
            readings = true;
        } else {
            projects = true;
        }
        let mut last: Option<&str> = None;
        for op in ops {
            if let Op::Report { report, .. } = op
                && last != Some(report.project.as_str())
            {
                last = Some(report.project.as_str());
                changes.publish(Topic::Errors, Some(&clean(&report.project)));
            }
        }
    }
    if projects {
        changes.publish(Topic::Projects, None);
    } else if readings {
        changes.publish(Topic::Readings, None);
    }
}

/// Writes every job in one transaction, each in a savepoint.
async fn write_jobs(
    db: &DatabaseConnection,
    projects: &mut ProjectCache,
    shared: &Shared,
    created: &mut HashMap<String, i64>,
    jobs: &[(Option<IpAddr>, Vec<Op>)],
) -> Result<Vec<Result<Done, IngestError>>, StoreError> {
    let txn = super::begin_write(db).await?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    let backend = db.get_database_backend();
    for (client, ops) in jobs {
        let client = *client;
        // a lone heartbeat on SQLite needs no savepoint (two statements
        // fewer for the most frequent job): a failed SQLite statement leaves
        // the transaction usable, and a heartbeat that fails halfway leaves
        // only readings without their sample
        if backend == DbBackend::Sqlite && matches!(ops.as_slice(), [Op::Heartbeat { .. }]) {
            let mut job_created = HashMap::new();
            let mut ctx = Ctx {
                txn: &txn,
                backend,
                projects: &mut *projects,
                earlier: created,
                created: &mut job_created,
                shared,
                client,
                new: (0, 0),
                back_online: false,
            };
            match ctx.apply(ops).await {
                // without a savepoint, a failed statement may have rolled
                // back the whole transaction (SQLite does on a full disk, an
                // I/O error…): the batch fails and its jobs are answered "try
                // again". A refused value (a constraint) does not roll back,
                // and fails only this job (readings are bounded above, so a
                // client cannot cause one on purpose)
                Err(IngestError::Store(StoreError::Other(e))) if is_refused_value(&e) => {
                    outcomes.push(Err(IngestError::Store(StoreError::Other(e))));
                }
                Err(IngestError::Store(e)) => {
                    return Err(StoreError::Unavailable(e.to_string()));
                }
                outcome => outcomes.push(outcome),
            }
            continue;
        }
        let savepoint = txn.begin().await?;
        let mut job_created = HashMap::new();
        let mut ctx = Ctx {
            txn: &savepoint,
            backend: db.get_database_backend(),
            projects: &mut *projects,
            earlier: created,
            created: &mut job_created,
            shared,
            client,
            new: (0, 0),
            back_online: false,
        };
        match ctx.apply(ops).await {
            Ok(done) => {
                savepoint.commit().await?;
                created.extend(job_created);
                outcomes.push(Ok(done));
            }
            // a database error in one job (a value the database refuses)
            // fails that job only: its savepoint rolls back, the rest go on;
            // if even the rollback fails, the connection is gone: all fail
            Err(IngestError::Store(StoreError::Other(e))) => {
                savepoint.rollback().await?;
                outcomes.push(Err(IngestError::Store(StoreError::Other(e))));
            }
            Err(IngestError::Store(e)) => return Err(e),
            Err(refused) => {
                savepoint.rollback().await?;
                outcomes.push(Err(refused));
            }
        }
    }
    txn.commit().await?;
    Ok(outcomes)
}

/// Whether a database error refuses one value (a constraint, a type) and
/// leaves SQLite's transaction as it was.
fn is_refused_value(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["constraint failed", "datatype mismatch", "too big"]
        .iter()
        .any(|needle| m.contains(needle))
}

/// Text without NUL characters, which PostgreSQL refuses in text columns.
fn clean(text: &str) -> String {
    text.replace('\0', "")
}

/// The newest report a batch stored in a group: the alarms' link, and where
/// it came from.
struct Newest<'r> {
    report: uuid::Uuid,
    release: i64,
    environment: &'r str,
    version: &'r str,
}

impl Newest<'_> {
    /// ` in 1.2.3 (staging)`, ` in 1.2.3`, ` (staging)` or nothing (no
    /// release, production).
    fn place(&self) -> String {
        let environment = if self.environment == super::releases::DEFAULT_ENVIRONMENT {
            String::new()
        } else {
            format!(" ({})", self.environment)
        };
        if self.version.is_empty() {
            environment
        } else {
            format!(" in {}{environment}", self.version)
        }
    }
}

struct Ctx<'a> {
    txn: &'a DatabaseTransaction,
    backend: DbBackend,
    /// Projects known from committed transactions.
    projects: &'a mut ProjectCache,
    /// Projects created by earlier jobs of this transaction.
    earlier: &'a HashMap<String, i64>,
    /// Projects created by this job (kept only if its savepoint is released).
    created: &'a mut HashMap<String, i64>,
    /// What each client may still create, and who this server is.
    shared: &'a Shared,
    /// Who sent this job.
    client: Option<IpAddr>,
    /// New projects and instances this job makes (taken from the client's
    /// quota together, at its end).
    new: (u32, u32),
    /// A heartbeat of this job found its instance not online.
    back_online: bool,
}

fn store_err(e: sea_orm::DbErr) -> IngestError {
    IngestError::Store(StoreError::from(e))
}

impl Ctx<'_> {
    async fn apply(&mut self, ops: &[Op]) -> Result<Done, IngestError> {
        let mut done = Done::default();
        // consecutive reports are written together (a few statements per
        // group and per 200 reports, not several per report)
        let mut reports: Vec<(&Report, &Prepared, Option<&str>)> = Vec::new();
        for op in ops {
            if let Op::Report {
                instance,
                report,
                prepared,
            } = op
            {
                reports.push((report, prepared, instance.as_deref()));
                done.acked.push(report.id);
                continue;
            }
            if !reports.is_empty() {
                self.reports(&reports).await?;
                reports.clear();
            }
            match op {
                Op::Hello { hello, authors } => self.hello(hello, authors).await?,
                Op::Heartbeat { instance, metrics } => self.heartbeat(instance, metrics).await?,
                Op::Report { .. } => {}
                Op::Goodbye { instance } => self.status(instance, "stopped", true).await?,
                Op::Connected {
                    instance,
                    connection,
                } => self.connected(instance, connection).await?,
                Op::Disconnected {
                    instance,
                    connection,
                } => self.disconnected(instance, connection).await?,
                Op::Forget {
                    instance,
                    connection,
                } => self.forget(instance, connection).await?,
            }
        }
        if !reports.is_empty() {
            self.reports(&reports).await?;
        }
        self.spend()?;
        done.back_online = self.back_online;
        Ok(done)
    }

    async fn project_id(&mut self, name: &str) -> Result<i64, IngestError> {
        let name = &clean(name);
        // found or made in this transaction: it stays until the commit
        let in_txn = self
            .earlier
            .get(name)
            .copied()
            .or_else(|| self.created.get(name).copied());
        if let Some(id) = in_txn {
            return Ok(id);
        }
        if let Some(id) = self.projects.get(name).copied() {
            // SQLite has one server, whose own writer deletes projects (and
            // clears this cache). On PostgreSQL another server may have
            // deleted it since: verify it once per transaction, and hold it
            // (FOR KEY SHARE) so no deletion lands before this commit;
            // reports stored under a deleted id would be stored for no one
            if self.backend == DbBackend::Sqlite {
                return Ok(id);
            }
            let still = super::projects::hold(self.txn, id)
                .await
                .map_err(store_err)?;
            if still {
                self.created.insert(name.to_owned(), id);
                return Ok(id);
            }
            self.projects.pop(name);
        }
        if super::projects::create(self.txn, name, now_ms())
            .await
            .map_err(store_err)?
        {
            self.new.0 += 1;
        }
        // held until the commit (PostgreSQL), as above
        let id = super::projects::id_held(self.txn, name)
            .await
            .map_err(store_err)?
            .ok_or_else(|| IngestError::Store(StoreError::Other("project row missing".into())))?;
        self.created.insert(name.to_owned(), id);
        Ok(id)
    }

    /// The instance's status and project before this change.
    async fn previous(
        &self,
        instance: &str,
    ) -> Result<Option<super::instances::Previous>, IngestError> {
        super::instances::previous(self.txn, instance)
            .await
            .map_err(store_err)
    }

    /// Queues `trigger` for `project`'s alarms; `report` is the report it is
    /// about, if any.
    async fn alarm(
        &self,
        project: i64,
        trigger: &str,
        message: &str,
        report: Option<uuid::Uuid>,
    ) -> Result<(), IngestError> {
        self.alarm_in(project, trigger, message, report, None).await
    }

    /// [`Ctx::alarm`] for the connections that listen to `environment`
    /// (all of them when it is `None`).
    async fn alarm_in(
        &self,
        project: i64,
        trigger: &str,
        message: &str,
        report: Option<uuid::Uuid>,
        environment: Option<&str>,
    ) -> Result<(), IngestError> {
        super::alarm_events::enqueue(self.txn, project, trigger, message, report, environment)
            .await
            .map_err(store_err)
    }

    /// Takes the new projects and instances of this job from the client's
    /// allowance, all or none; when there is not enough, the job is refused
    /// (its savepoint rolls back) and the client keeps its allowance.
    fn spend(&self) -> Result<(), IngestError> {
        match (self.client, self.new) {
            (Some(client), (projects, instances)) if projects + instances > 0 => self
                .shared
                .quota
                .take(client, projects, instances, std::time::Instant::now())
                .map_err(|(what, wait)| IngestError::TooManyNew(what, wait)),
            _ => Ok(()),
        }
    }

    async fn hello(&mut self, hello: &Hello, authors: &[String]) -> Result<(), IngestError> {
        let project = self.project_id(&hello.project).await?;
        let now = now_ms();
        let transport = serde_json::to_value(hello.transport)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let row = super::instances::Hello {
            id: clean(&hello.instance),
            project,
            host: crate::names::bounded(&hello.host, 255),
            pid: i64::from(hello.pid),
            client_version: crate::names::bounded(&hello.client_version, 64),
            transport,
            heartbeat_s: i32::try_from(hello.heartbeat_s.clamp(1, 86_400)).unwrap_or(10),
            release: Some(super::releases::version(hello.release.as_deref()))
                .filter(|r| !r.is_empty()),
            environment: hello
                .environment
                .as_deref()
                .map(|e| super::releases::environment(Some(e))),
            backends: super::instances::listed(&hello.backends),
            authors: super::instances::listed(authors),
        };
        match self.previous(&hello.instance).await? {
            None => self.new.1 += 1,
            Some(previous) if previous.status != "online" => {
                // named as it says now (a restarted app has a new pid)
                let name = super::instances::name(&row.id, &row.host, row.pid);
                let message = format!("{name} is back online");
                let environment = row
                    .environment
                    .as_deref()
                    .unwrap_or(super::releases::DEFAULT_ENVIRONMENT);
                self.alarm_in(project, "online", &message, None, Some(environment))
                    .await?;
            }
            Some(_) => {}
        }
        // the release it runs is one of the project's, errors or not
        if let Some(version) = &row.release {
            let environment = row
                .environment
                .clone()
                .unwrap_or_else(|| super::releases::DEFAULT_ENVIRONMENT.to_owned());
            super::releases::upsert(self.txn, project, &environment, version, now, now)
                .await
                .map_err(store_err)?;
        }
        super::instances::hello(self.txn, row, now)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn heartbeat(&mut self, instance: &str, m: &Metrics) -> Result<(), IngestError> {
        let now = now_ms();
        // a reading is a client's word: past 2^53 bytes (8 PiB) it is noise,
        // and sums of huge ones must stay finite
        let mem = |v: u64| i64::try_from(v.min(1 << 53)).unwrap_or(0);
        // readings travel as f32: finite, 0..=100,000 % (a thousand cores),
        // two decimals, not f32's noise; anything else (NaN, ±inf) reads 0
        let pct = |v: f32| {
            let v = f64::from(v);
            if v.is_finite() {
                (v.clamp(0.0, 100_000.0) * 100.0).round() / 100.0
            } else {
                0.0
            }
        };
        // the same readings for the instance's last readings and the sample
        let readings = super::instances::Readings {
            cpu_percent: pct(m.cpu_percent),
            process_cpu_percent: pct(m.process_cpu_percent),
            process_memory_bytes: mem(m.process_memory_bytes),
            memory_used_bytes: mem(m.memory_used_bytes),
            memory_total_bytes: mem(m.memory_total_bytes),
        };
        // the common case, an instance that is online, in one statement
        let online = super::instances::heartbeat_online(self.txn, instance, now, readings)
            .await
            .map_err(store_err)?;
        if !online {
            self.back_online = true;
            // offline or stopped before (it is back: alarm), or unknown
            if let Some(previous) = self
                .previous(instance)
                .await?
                .filter(|p| p.status != "online")
            {
                let message = format!("{} is back online", previous.name);
                self.alarm(previous.project, "online", &message, None)
                    .await?;
            }
            let known = super::instances::heartbeat_back(self.txn, instance, now, readings)
                .await
                .map_err(store_err)?;
            if !known {
                return Err(IngestError::UnknownInstance(instance.to_owned()));
            }
        }
        super::metrics::record_sample(self.txn, instance, now, readings)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// The group of `(project, fingerprint)`, created (empty) if new: its id,
    /// state and count before this batch.
    async fn group(
        &self,
        project: i64,
        fingerprint: &str,
        title: &str,
        ts: i64,
    ) -> Result<(i64, String, i64), IngestError> {
        self.txn
            .execute_raw(sql(
                self.backend,
                "INSERT INTO error_groups (project_id, fingerprint, title, title_folded, count, \
                 first_seen_ms, last_seen_ms, state, regressed) \
                 VALUES ($1, $2, $3, $5, 0, $4, $4, 'open', FALSE) \
                 ON CONFLICT (project_id, fingerprint) DO NOTHING",
                [
                    project.into(),
                    fingerprint.into(),
                    title.into(),
                    ts.into(),
                    title.to_lowercase().into(),
                ],
            ))
            .await
            .map_err(store_err)?;
        let row = self
            .txn
            .query_one_raw(sql(
                self.backend,
                "SELECT id, state, count FROM error_groups WHERE project_id = $1 AND fingerprint = $2",
                [project.into(), fingerprint.into()],
            ))
            .await
            .map_err(store_err)?
            .ok_or_else(|| IngestError::Store(StoreError::Other("group row missing".into())))?;
        Ok((
            row.try_get("", "id").map_err(store_err)?,
            row.try_get("", "state").map_err(store_err)?,
            row.try_get("", "count").map_err(store_err)?,
        ))
    }

    /// Writes consecutive reports: groups looked up once each, the reports in
    /// multi-row INSERTs (a re-sent id is skipped), then one update and the
    /// alarms per group that grew, and one update per instance.
    async fn reports(
        &mut self,
        batch: &[(&Report, &Prepared, Option<&str>)],
    ) -> Result<(), IngestError> {
        struct Group {
            id: i64,
            project: i64,
            state: String,
            count: i64,
            added: i64,
            first_ms: i64,
            last_ms: i64,
            line: String,
            /// The newest report of this batch stored in the group (the
            /// alarms' link) and its release (index in `releases`).
            newest: Option<(i64, uuid::Uuid, usize)>,
            /// The oldest one (what a new error's alarm names).
            oldest: Option<(i64, uuid::Uuid, usize)>,
        }
        /// A release the batch's reports name: its key, their times, its id.
        struct Release<'r> {
            project: i64,
            environment: &'r str,
            version: &'r str,
            first_ms: i64,
            last_ms: i64,
            id: i64,
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut by_key: HashMap<(i64, &str), usize> = HashMap::new();
        let mut releases: Vec<Release<'_>> = Vec::new();
        let mut by_release: HashMap<(i64, &str, &str), usize> = HashMap::new();
        // (id, group, ts, release, values but the release id)
        let mut rows: Vec<(uuid::Uuid, usize, i64, usize, [sea_orm::Value; 6])> =
            Vec::with_capacity(batch.len());
        let mut instances: HashMap<&str, ()> = HashMap::new();
        for (report, prepared, instance) in batch {
            let project = self.project_id(&report.project).await?;
            let ts = report.timestamp.timestamp_millis();
            let key = (project, prepared.fingerprint.as_str());
            let index = match by_key.get(&key) {
                Some(index) => *index,
                None => {
                    let (id, state, count) = self
                        .group(project, &prepared.fingerprint, &prepared.title, ts)
                        .await?;
                    groups.push(Group {
                        id,
                        project,
                        state,
                        count,
                        added: 0,
                        first_ms: ts,
                        last_ms: ts,
                        line: report.title(),
                        newest: None,
                        oldest: None,
                    });
                    by_key.insert(key, groups.len() - 1);
                    groups.len() - 1
                }
            };
            let release_key = (
                project,
                prepared.environment.as_str(),
                prepared.release.as_str(),
            );
            let release = match by_release.get(&release_key) {
                Some(r) => {
                    let known = &mut releases[*r];
                    known.first_ms = known.first_ms.min(ts);
                    known.last_ms = known.last_ms.max(ts);
                    *r
                }
                None => {
                    releases.push(Release {
                        project,
                        environment: &prepared.environment,
                        version: &prepared.release,
                        first_ms: ts,
                        last_ms: ts,
                        id: 0,
                    });
                    by_release.insert(release_key, releases.len() - 1);
                    releases.len() - 1
                }
            };
            let id = report.id.0;
            rows.push((
                id,
                index,
                ts,
                release,
                [
                    id.into(),
                    project.into(),
                    groups[index].id.into(),
                    instance.map(str::to_owned).into(),
                    ts.into(),
                    prepared.body.clone().into(),
                ],
            ));
            if let Some(instance) = instance {
                instances.insert(instance, ());
            }
        }
        // each release once, in key order (two servers upserting the same
        // releases take their locks in the same order)
        let mut order: Vec<usize> = (0..releases.len()).collect();
        order.sort_unstable_by(|a, b| {
            let (a, b) = (&releases[*a], &releases[*b]);
            (a.project, a.environment, a.version).cmp(&(b.project, b.environment, b.version))
        });
        for r in order {
            let release = &releases[r];
            let id = super::releases::upsert(
                self.txn,
                release.project,
                release.environment,
                release.version,
                release.first_ms,
                release.last_ms,
            )
            .await
            .map_err(store_err)?;
            releases[r].id = id;
        }
        let mut inserted: std::collections::HashSet<uuid::Uuid> = std::collections::HashSet::new();
        // hand-written on purpose: the hot path's multi-row INSERT of 200 rows
        // (ON CONFLICT … RETURNING), its placeholders chosen per backend
        // (`?` on SQLite: binding 1,200 `$n` by name was 5 % of the server's
        // CPU under `load ingest`, perf). Not measured against a sea-query
        // build of the same statement
        for chunk in rows.chunks(200) {
            let mut text = String::with_capacity(96 + chunk.len() * 32);
            text.push_str(
                "INSERT INTO reports (id, project_id, group_id, instance_id, ts_ms, body, release_id) VALUES ",
            );
            let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 7);
            for (r, (_, _, _, release, row)) in chunk.iter().enumerate() {
                if r > 0 {
                    text.push_str(", ");
                }
                if self.backend == DbBackend::Postgres {
                    let n = r * 7;
                    let _ = write!(
                        text,
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6,
                        n + 7
                    );
                } else {
                    // SQLite binds `$n` by looking each name up
                    // (sqlite3_bind_parameter_name: 5 % of the server's CPU
                    // with 1,200 of them); `?` binds by position
                    text.push_str("(?, ?, ?, ?, ?, ?, ?)");
                }
                values.extend(row.iter().cloned());
                values.push(releases[*release].id.into());
            }
            text.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
            for row in self
                .txn
                .query_all_raw(sql(self.backend, &text, values))
                .await
                .map_err(store_err)?
            {
                inserted.insert(row.try_get("", "id").map_err(store_err)?);
            }
        }
        // (group, release) → (reports, first, last)
        /// A group's reports of one release in this batch: how many, the
        /// first and last times, the oldest report and its release's index.
        type Seen = (i64, i64, i64, uuid::Uuid, usize);
        // (group, release) → its reports
        let mut seen: std::collections::BTreeMap<(i64, i64), Seen> =
            std::collections::BTreeMap::new();
        for (id, index, ts, release, _) in &rows {
            // an id twice in one batch is stored (and counted) once
            if inserted.remove(id) {
                let group = &mut groups[*index];
                group.added += 1;
                group.first_ms = group.first_ms.min(*ts);
                group.last_ms = group.last_ms.max(*ts);
                if group.newest.is_none_or(|(newest, _, _)| *ts >= newest) {
                    group.newest = Some((*ts, *id, *release));
                }
                if group.oldest.is_none_or(|(oldest, _, _)| *ts < oldest) {
                    group.oldest = Some((*ts, *id, *release));
                }
                let entry = seen
                    .entry((group.id, releases[*release].id))
                    .or_insert((0, *ts, *ts, *id, *release));
                entry.0 += 1;
                if *ts < entry.1 {
                    entry.1 = *ts;
                    entry.3 = *id;
                }
                entry.2 = entry.2.max(*ts);
            }
        }
        // first (so a new error's alarm is queued before its repeats'), in
        // key order (as above): a group's first reports in an environment
        // are a new error there (a group new to the project is new in each
        // environment it came from)
        let mut fresh: std::collections::BTreeMap<(i64, &str), (i64, uuid::Uuid, usize, bool)> =
            std::collections::BTreeMap::new();
        for ((group, release), (count, first, last, oldest, r)) in seen {
            let total = super::releases::group_seen(self.txn, group, release, count, first, last)
                .await
                .map_err(store_err)?;
            // only a new (group, release) pair may be the group's first in
            // its environment: the common case costs nothing more
            let new_pair = total == count;
            let entry = fresh
                .entry((group, releases[r].environment))
                .or_insert((first, oldest, r, new_pair));
            entry.3 &= new_pair;
            if first < entry.0 {
                *entry = (first, oldest, r, entry.3);
            }
        }
        let lines: HashMap<i64, (i64, &str)> = groups
            .iter()
            .map(|g| (g.id, (g.project, g.line.as_str())))
            .collect();
        for ((group, environment), (_, report, r, all_new)) in fresh {
            if !all_new {
                continue;
            }
            let batch_releases: Vec<i64> = releases
                .iter()
                .filter(|x| x.environment == environment)
                .map(|x| x.id)
                .collect();
            let before =
                super::releases::seen_before(self.txn, group, environment, &batch_releases)
                    .await
                    .map_err(store_err)?;
            if before {
                continue;
            }
            let Some((project, line)) = lines.get(&group) else {
                continue;
            };
            let place = Newest {
                report,
                release: releases[r].id,
                environment,
                version: releases[r].version,
            }
            .place();
            self.alarm_in(
                *project,
                "new_error",
                &format!("new error{place}: {line}"),
                Some(report),
                Some(environment),
            )
            .await?;
        }
        // in id order, as retention updates groups: two transactions that
        // update the same groups (two servers, or retention) cannot deadlock
        groups.sort_unstable_by_key(|g| g.id);
        for group in groups.iter().filter(|g| g.added > 0) {
            let named = |(_, id, r): (i64, uuid::Uuid, usize)| Newest {
                report: id,
                release: releases[r].id,
                environment: releases[r].environment,
                version: releases[r].version,
            };
            // a new error is named where it first happened; a regression
            // and a repeat where they happen now
            let newest = if group.count == 0 {
                group.oldest.map(named)
            } else {
                group.newest.map(named)
            };
            self.grew(
                group.project,
                group.id,
                &group.state,
                group.count,
                group.added,
                group.first_ms,
                group.last_ms,
                &group.line,
                newest,
            )
            .await?;
        }
        let now = now_ms();
        for instance in instances.keys() {
            self.txn
                .execute_raw(sql(
                    self.backend,
                    "UPDATE instances SET last_seen_ms = $2 WHERE id = $1 AND last_seen_ms < $2",
                    [(*instance).into(), now.into()],
                ))
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }

    /// A group got `added` new reports: its alarms, then its count, times and
    /// state (a resolved group reopens, marked regressed).
    #[allow(clippy::too_many_arguments)]
    async fn grew(
        &self,
        project: i64,
        group: i64,
        state: &str,
        count: i64,
        added: i64,
        first_ms: i64,
        last_ms: i64,
        line: &str,
        newest: Option<Newest<'_>>,
    ) -> Result<(), IngestError> {
        let report = newest.as_ref().map(|n| n.report);
        let environment = newest.as_ref().map(|n| n.environment);
        // ` in 1.2.3 (staging)`: where it happened, when the app says
        let place = newest.as_ref().map(Newest::place).unwrap_or_default();
        // a new error's alarms go per environment, after `group_seen`
        if count > 0 && state == "resolved" {
            self.alarm_in(
                project,
                "regression",
                &format!("a resolved error is back{place}: {line}"),
                report,
                environment,
            )
            .await?;
        }
        for nth in super::alarm_events::every_nth_values(self.txn, project)
            .await
            .map_err(store_err)?
            .into_iter()
            .flat_map(|n| {
                // the multiples of n passed by this batch
                let first = (count / n + 1) * n;
                (first..=count + added).step_by(usize::try_from(n).unwrap_or(1))
            })
            .collect::<std::collections::BTreeSet<i64>>()
        {
            super::alarm_events::enqueue_every_nth(
                self.txn,
                project,
                nth,
                &format!("{nth} occurrences{place} of: {line}"),
                report,
                environment,
            )
            .await
            .map_err(store_err)?;
        }
        self.txn
            .execute_raw(sql(
                self.backend,
                "UPDATE error_groups SET count = count + $2, \
                 last_seen_ms = CASE WHEN last_seen_ms < $3 THEN $3 ELSE last_seen_ms END, \
                 first_seen_ms = CASE WHEN first_seen_ms > $4 THEN $4 ELSE first_seen_ms END, \
                 regressed = CASE WHEN state = 'resolved' THEN TRUE ELSE regressed END, \
                 regressed_release_id = CASE WHEN state = 'resolved' THEN $5 \
                 ELSE regressed_release_id END, \
                 state = CASE WHEN state = 'resolved' THEN 'open' ELSE state END \
                 WHERE id = $1",
                [
                    group.into(),
                    added.into(),
                    last_ms.into(),
                    first_ms.into(),
                    newest.as_ref().map(|n| n.release).into(),
                ],
            ))
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn connected(&mut self, instance: &str, connection: &str) -> Result<(), IngestError> {
        let client = self.client.map(|ip| ip.to_string());
        super::instances::connected(self.txn, instance, connection, &self.shared.server, client)
            .await
            .map_err(store_err)
    }

    async fn forget(&mut self, instance: &str, connection: &str) -> Result<(), IngestError> {
        super::instances::forget(self.txn, instance, connection)
            .await
            .map_err(store_err)
    }

    /// Offline, if `connection` is still the instance's live one.
    async fn disconnected(&mut self, instance: &str, connection: &str) -> Result<(), IngestError> {
        let live = super::instances::live_connection(self.txn, instance)
            .await
            .map_err(store_err)?;
        match live {
            Some(live) if live != connection => Ok(()),
            _ => self.status(instance, "offline", false).await,
        }
    }

    async fn status(
        &mut self,
        instance: &str,
        status: &str,
        always: bool,
    ) -> Result<(), IngestError> {
        let now = now_ms();
        let previous = self.previous(instance).await?;
        let updated = super::instances::set_status(self.txn, instance, status, now, always)
            .await
            .map_err(store_err)?;
        if always && updated == 0 {
            return Err(IngestError::UnknownInstance(instance.to_owned()));
        }
        let changed = previous.filter(|before| before.status != status);
        if let (1, Some(before)) = (updated, changed) {
            let message = match status {
                "stopped" => format!("{} stopped (said goodbye)", before.name),
                _ => format!("{} is offline: its connection closed", before.name),
            };
            self.alarm(before.project, status, &message, None).await?;
        }
        Ok(())
    }
}
