//! Live updates by push: one stream of server-sent events per tab
//! (`GET /api/v1/events`), and the refetch a live island does when the
//! stream says that something it shows changed.
//!
//! The server sends an event when the data behind a page changed, not the
//! data itself: `projects` (an app's status, readings or errors), `errors`
//! (a project's groups and reports; its data is `{"project": name}`),
//! `alarms` (the alarm history) and `resync` (the server may have missed
//! changes: everything is fetched again). An island fetches its own JSON
//! once per event it cares about (never on a timer), so an idle page makes
//! no request at all; a busy one fetches each part at most once per its
//! `gap` (the first change after a quiet spell at once). When the stream
//! opens (the first time, and after every reconnect) each island fetches
//! once: a tab that lost the stream, for example while the server
//! restarted, catches up that way. A hidden tab closes its stream (browsers
//! allow six HTTP/1.1 connections per server, and a stream holds one) and
//! opens it again, catching up, when it is shown.

/// The stream's address.
pub const EVENTS_URL: &str = "/api/v1/events";

/// The event names the server sends.
pub mod event {
    /// The projects table's data changed.
    pub const PROJECTS: &str = "projects";
    /// A project's error groups or reports changed (data: `{"project": name}`).
    pub const ERRORS: &str = "errors";
    /// The alarm history changed.
    pub const ALARMS: &str = "alarms";
    /// Changes may have been missed: fetch everything again.
    pub const RESYNC: &str = "resync";
    /// Not sent by itself: a `projects` event whose data is
    /// `{"readings": true}` (only new readings from heartbeats). A live part
    /// that shows readings asks for it besides [`PROJECTS`].
    pub const READINGS: &str = "readings";
}

/// The least time between two fetches of a project's releases (their
/// figures are heavier to count and change slowly).
pub const RELEASES_GAP: std::time::Duration = std::time::Duration::from_secs(10);

/// The least time between two fetches of the projects table: never more
/// than the 3 s the table polled at before, however busy the server.
pub const PROJECTS_GAP: std::time::Duration = std::time::Duration::from_secs(3);

/// The least time between two fetches of the other live parts (an errors
/// table, a report's pager, the alarm history).
pub const VIEW_GAP: std::time::Duration = std::time::Duration::from_secs(1);

/// How often a live part moves its "3 s ago" on by itself between fetches
/// (no request: its own clock).
pub const TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// The data of a `projects` event.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProjectsChanged {
    /// Only new readings came (heartbeats).
    #[serde(default)]
    pub readings: bool,
}

/// The data of an `errors` event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorsChanged {
    /// The project whose errors changed.
    pub project: String,
}

#[cfg(feature = "hydrate")]
pub use client::{ages_move_on, refresh_on};

#[cfg(feature = "hydrate")]
mod client {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::wasm_bindgen::JsCast;
    use leptos::wasm_bindgen::closure::Closure;
    use web_sys::{EventSource, MessageEvent};

    use super::{ErrorsChanged, ProjectsChanged, event};

    /// What a subscriber is told: the event's name and its data.
    type Handler = Rc<dyn Fn(&str, &str)>;

    /// The tab's one stream: its address, who listens, and the listeners
    /// attached to the current `EventSource` (dropped with it).
    #[derive(Default)]
    struct Stream {
        url: String,
        /// The project its `errors` events are about, if one.
        project: Option<String>,
        /// The events its islands listen to (the stream asks for these).
        topics: Vec<&'static str>,
        handlers: Vec<Handler>,
        source: Option<EventSource>,
        listeners: Vec<Closure<dyn FnMut(web_sys::Event)>>,
        /// The wait before the next reconnect of our own (the browser's
        /// own retries do not count), doubled up to 30 s.
        backoff_ms: u64,
        /// Shared with this browser's other tabs of the server: the
        /// channel they tell each other on.
        shared: Option<web_sys::BroadcastChannel>,
        /// This tab holds the one stream (and tells the others).
        leader: bool,
    }

    thread_local! {
        static STREAM: RefCell<Option<Stream>> = const { RefCell::new(None) };
    }

    const FIRST_BACKOFF_MS: u64 = 1_000;
    const MAX_BACKOFF_MS: u64 = 30_000;

    fn dispatch(name: &str, data: &str) {
        let handlers = STREAM.with(|s| {
            s.borrow()
                .as_ref()
                .map(|s| s.handlers.clone())
                .unwrap_or_default()
        });
        for handler in handlers {
            handler(name, data);
        }
    }

    /// Tells this tab's islands, and, when this tab holds the stream, the
    /// browser's other tabs of this server.
    fn tell(name: &str, data: &str) {
        dispatch(name, data);
        STREAM.with(|s| {
            if let Some(s) = s.borrow().as_ref()
                && s.leader
                && let Some(channel) = &s.shared
            {
                let _ = channel.post_message(&format!("{name}\n{data}").into());
            }
        });
    }

    /// The name of the lock and the channel the tabs share the stream by.
    const SHARED: &str = "loggerflow-live";

    /// Shares one stream among this browser's tabs of the server: browsers
    /// open at most six HTTP/1.1 connections to a server, and each stream
    /// holds one. The tab that holds the lock `SHARED` (Web Locks) opens the
    /// stream and passes every event on (a `BroadcastChannel`); when it
    /// closes, the next tab waiting for the lock takes over, and its stream's
    /// opening makes every tab catch up. False where the browser has no Web
    /// Locks (pages served over plain HTTP to another host are no secure
    /// context): each tab then has its own stream.
    fn share() -> bool {
        use web_sys::js_sys::{Function, Promise, Reflect};
        let Some(window) = web_sys::window() else {
            return false;
        };
        let locks = Reflect::get(&window.navigator(), &"locks".into()).unwrap_or_default();
        let request = Reflect::get(&locks, &"request".into()).unwrap_or_default();
        let (Some(request), Ok(channel)) = (
            request.dyn_ref::<Function>(),
            web_sys::BroadcastChannel::new(SHARED),
        ) else {
            return false;
        };
        // what the tab holding the stream passes on
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|m: MessageEvent| {
            if let Some(text) = m.data().as_string()
                && let Some((name, data)) = text.split_once('\n')
            {
                dispatch(name, data);
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        // granted once no other tab holds it; held as long as the page lives
        let granted = Closure::<dyn FnMut(leptos::wasm_bindgen::JsValue) -> Promise>::new(|_| {
            STREAM.with(|s| {
                if let Some(s) = s.borrow_mut().as_mut() {
                    s.leader = true;
                    s.url = super::EVENTS_URL.to_owned();
                }
            });
            connect();
            Promise::new(&mut |_, _| {})
        });
        let asked = request
            .call2(&locks, &SHARED.into(), granted.as_ref().unchecked_ref())
            .is_ok();
        granted.forget();
        if asked {
            STREAM.with(|s| {
                if let Some(s) = s.borrow_mut().as_mut() {
                    s.shared = Some(channel);
                }
            });
        }
        asked
    }

    fn hidden() -> bool {
        web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.hidden())
    }

    /// Closes the stream (the tab is hidden).
    fn close() {
        STREAM.with(|s| {
            if let Some(s) = s.borrow_mut().as_mut() {
                if let Some(source) = s.source.take() {
                    source.close();
                }
                s.listeners.clear();
            }
        });
    }

    /// Opens (or reopens) the stream's `EventSource`, unless the tab has a
    /// stream of its own and is hidden (it opens when shown).
    fn connect() {
        let shared = STREAM.with(|s| s.borrow().as_ref().is_some_and(|s| s.shared.is_some()));
        if !shared && hidden() {
            return;
        }
        let Some(url) = STREAM.with(|s| s.borrow().as_ref().map(|s| s.url.clone())) else {
            return;
        };
        let Ok(source) = EventSource::new(&url) else {
            return;
        };
        let mut listeners = Vec::new();
        let mut listen = |name: &'static str, on: Box<dyn FnMut(web_sys::Event)>| {
            let closure = Closure::<dyn FnMut(web_sys::Event)>::wrap(on);
            let _ = source.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
            listeners.push(closure);
        };
        // opened (first time or after a reconnect): catch up
        listen(
            "open",
            Box::new(|_| {
                STREAM.with(|s| {
                    if let Some(s) = s.borrow_mut().as_mut() {
                        s.backoff_ms = FIRST_BACKOFF_MS;
                    }
                });
                tell(event::RESYNC, "");
            }),
        );
        for name in [event::PROJECTS, event::ERRORS, event::ALARMS, event::RESYNC] {
            listen(
                name,
                Box::new(move |e: web_sys::Event| {
                    let data = e
                        .dyn_ref::<MessageEvent>()
                        .and_then(|m| m.data().as_string())
                        .unwrap_or_default();
                    tell(name, &data);
                }),
            );
        }
        // the browser reconnects by itself after a network error; after a
        // refusal (a 401, a 503 while the server starts) it gives up, and
        // so the tab tries again itself, a little later each time
        listen(
            "error",
            Box::new(|_| {
                let closed = STREAM.with(|s| {
                    s.borrow()
                        .as_ref()
                        .and_then(|s| s.source.as_ref())
                        .is_some_and(|source| source.ready_state() == EventSource::CLOSED)
                });
                if !closed {
                    return;
                }
                let wait = STREAM.with(|s| {
                    let mut s = s.borrow_mut();
                    let s = s.as_mut()?;
                    let wait = s.backoff_ms.max(FIRST_BACKOFF_MS);
                    s.backoff_ms = (wait * 2).min(MAX_BACKOFF_MS);
                    Some(wait)
                });
                if let Some(wait) = wait {
                    leptos::prelude::set_timeout(connect, Duration::from_millis(wait));
                }
            }),
        );
        STREAM.with(|s| {
            if let Some(s) = s.borrow_mut().as_mut() {
                if let Some(old) = s.source.replace(source) {
                    old.close();
                }
                s.listeners = listeners;
            }
        });
    }

    /// The stream's address for `topics` (about `project`).
    fn url(project: Option<&str>, topics: &[&str]) -> String {
        let mut url = format!("{}?topics={}", super::EVENTS_URL, topics.join(","));
        if let Some(p) = project {
            url.push_str("&project=");
            url.push_str(&crate::pages::segment(p));
        }
        url
    }

    /// Adds `handler` to the tab's stream, opening it on first use: shared
    /// with the browser's other tabs where it can be, else the tab's own
    /// (about `project` when given, and `topics`).
    fn subscribe(project: Option<&str>, topics: &[&'static str], handler: Handler) {
        enum Then {
            Open,
            Reopen,
            Nothing,
        }
        let then = STREAM.with(|s| {
            let mut s = s.borrow_mut();
            match s.as_mut() {
                Some(stream) => {
                    stream.handlers.push(handler);
                    // a shared stream tells of everything
                    if stream.shared.is_some() {
                        return Then::Nothing;
                    }
                    let before = stream.topics.len();
                    for topic in topics {
                        if !stream.topics.contains(topic) {
                            stream.topics.push(topic);
                        }
                    }
                    if stream.topics.len() == before {
                        return Then::Nothing;
                    }
                    // another island wants more: ask for it
                    stream.url = url(stream.project.as_deref(), &stream.topics);
                    Then::Reopen
                }
                None => {
                    *s = Some(Stream {
                        url: url(project, topics),
                        project: project.map(str::to_owned),
                        topics: topics.to_vec(),
                        handlers: vec![handler],
                        backoff_ms: FIRST_BACKOFF_MS,
                        ..Stream::default()
                    });
                    Then::Open
                }
            }
        });
        let open = match then {
            Then::Nothing => false,
            Then::Reopen => {
                close();
                connect();
                false
            }
            Then::Open => true,
        };
        if open && share() {
            // the stream may have been open for a while: catch up once
            dispatch(event::RESYNC, "");
        } else if open {
            // hidden: the stream closes; shown: it opens and catches up
            let on_visibility = Closure::<dyn FnMut()>::new(|| {
                if hidden() {
                    close();
                } else if STREAM.with(|s| s.borrow().as_ref().is_some_and(|s| s.source.is_none())) {
                    connect();
                }
            });
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                let _ = document.add_event_listener_with_callback(
                    "visibilitychange",
                    on_visibility.as_ref().unchecked_ref(),
                );
            }
            // for as long as the page lives
            on_visibility.forget();
            connect();
        }
    }

    /// One island's refetching: at most one fetch at a time, and one per
    /// `gap_ms` at most.
    struct Refresher<T> {
        url: Box<dyn Fn() -> String>,
        update: Box<dyn Fn(T)>,
        gap_ms: f64,
        busy: Cell<bool>,
        again: Cell<bool>,
        scheduled: Cell<bool>,
        last: Cell<f64>,
    }

    /// Fetches now, or once the gap since the last fetch passed, or after
    /// the fetch in progress.
    fn trigger<T: serde::de::DeserializeOwned + 'static>(r: &Rc<Refresher<T>>) {
        if r.busy.get() {
            r.again.set(true);
            return;
        }
        if r.scheduled.get() {
            return;
        }
        let now = web_sys::js_sys::Date::now();
        let wait = r.last.get() + r.gap_ms - now;
        if wait > 0.0 {
            r.scheduled.set(true);
            let later = Rc::clone(r);
            leptos::prelude::set_timeout(
                move || {
                    later.scheduled.set(false);
                    trigger(&later);
                },
                Duration::from_millis(wait as u64),
            );
            return;
        }
        r.busy.set(true);
        r.last.set(now);
        let r = Rc::clone(r);
        leptos::task::spawn_local(async move {
            let response = gloo_net::http::Request::get(&(r.url)())
                .header("Accept", "application/json")
                .send()
                .await;
            if let Ok(response) = response
                && response.ok()
                && let Ok(value) = response.json::<T>().await
            {
                (r.update)(value);
            }
            r.busy.set(false);
            if r.again.replace(false) {
                trigger(&r);
            }
        });
    }

    /// Moves the `now_ms` of the view in `page` on every [`super::TICK`], so
    /// its "3 s ago" ages move on between fetches: the browser's clock plus
    /// how far ahead the server's was when the view came, never back.
    pub fn ages_move_on<T: Send + Sync + 'static>(
        page: leptos::prelude::RwSignal<T>,
        now_ms: fn(&mut T) -> &mut i64,
    ) {
        use leptos::prelude::{Track as _, Update as _, UpdateUntracked as _};
        let clock = || web_sys::js_sys::Date::now() as i64;
        // what a tick wrote last, and the server's lead on this clock
        let written = Rc::new(Cell::new(None::<i64>));
        let lead = Rc::new(Cell::new(0i64));
        {
            let (written, lead) = (Rc::clone(&written), Rc::clone(&lead));
            // a view the server sent (not a tick's): its clock, as it comes
            leptos::prelude::Effect::new(move |_| {
                page.track();
                page.update_untracked(|p| {
                    let now = *now_ms(p);
                    if written.get() != Some(now) {
                        lead.set(now - clock());
                    }
                });
            });
        }
        leptos::prelude::set_interval(
            move || {
                page.update(|p| {
                    let now = now_ms(p);
                    *now = (clock() + lead.get()).max(*now);
                    written.set(Some(*now));
                })
            },
            super::TICK,
        );
    }

    /// Fetches `url()` as JSON and hands it to `update` whenever one of
    /// `events` arrives (for `errors`: about `project`; `projects` that
    /// brought only readings only when `events` has [`event::READINGS`]),
    /// when the stream opens, and on `resync`; at most once per `gap` (the
    /// first after a quiet spell at once), one fetch at a time.
    pub fn refresh_on<T>(
        project: Option<String>,
        events: &'static [&'static str],
        gap: Duration,
        url: impl Fn() -> String + 'static,
        update: impl Fn(T) + 'static,
    ) where
        T: serde::de::DeserializeOwned + 'static,
    {
        let refresher = Rc::new(Refresher {
            url: Box::new(url),
            update: Box::new(update),
            gap_ms: gap.as_millis() as f64,
            busy: Cell::new(false),
            again: Cell::new(false),
            scheduled: Cell::new(false),
            last: Cell::new(f64::MIN),
        });
        let fetch = move || trigger(&refresher);
        let mine = project.clone();
        // `readings` is no topic of the stream: they come as `projects`
        let topics: Vec<&'static str> = events
            .iter()
            .copied()
            .filter(|e| *e != event::READINGS)
            .collect();
        subscribe(
            project.as_deref(),
            &topics,
            Rc::new(move |name: &str, data: &str| {
                let wanted = match name {
                    event::RESYNC => true,
                    event::ERRORS => {
                        events.contains(&event::ERRORS)
                            && serde_json::from_str::<ErrorsChanged>(data)
                                .is_ok_and(|c| mine.as_deref().is_none_or(|p| p == c.project))
                    }
                    event::PROJECTS => {
                        let readings =
                            serde_json::from_str::<ProjectsChanged>(data).is_ok_and(|c| c.readings);
                        events.contains(&event::PROJECTS)
                            && (!readings || events.contains(&event::READINGS))
                    }
                    other => events.contains(&other),
                };
                if wanted {
                    fetch();
                }
            }),
        );
    }
}
