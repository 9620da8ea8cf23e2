//! Domain lifecycle events and connection-close notices delivered over a std channel, plus
//! an error-checked `virDomainGetState` and `virStreamSendHole` (sparse uploads,
//! `storage/upload.rs`): the only module of domkit that calls libvirt's C API directly,
//! because virt 0.5 wraps none of these safely (its `Domain::state()` drops errors, and it
//! has no sparse streams). Also the exit that skips C library destructors
//! (`exit_at_once`): the one other `unsafe` call, kept here so that all of them live in
//! one module.
//!
//! # Lost events
//! libvirt 9.0 (and its master as of this writing) can strand events in a connection's
//! event queue: `virObjectEventStateQueueRemote` (src/conf/object_event.c) checks
//! `state->timer < 0` before taking the state's lock. If another thread removes the
//! queue's last callback in between (`virObjectEventStateCleanupTimer`: timer removed,
//! `timer = -1`, queue cleared), the event is queued anyway, and the dispatch timer it arms
//! is `-1` ("Update of missing timeout timer=-1" in libvirt's debug log). The next
//! registration creates a new timer that nobody arms: the timer is armed only when the
//! queue goes from 0 to 1 event, so every later event waits in the queue until the last
//! callback goes again and the queue is cleared. It takes two users of one event queue,
//! one of them dropping the last subscription while the other acts on domains: threads of
//! one process on `test:///default` (one driver, one queue for all its connections), as in
//! the unit tests, where it cost about 1 run in 30 a 5 s wait (1 in 4 with debug logging
//! on). domkit's tools keep their subscription for as long as they use a connection, so
//! they never trigger it; `dom-wait-shutdown` re-reads every state at its poll interval in
//! case an event is lost anyway, and the unit tests keep one subscription for the whole
//! process (`testing::open`).
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::mpsc::Sender;

use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

/// A lifecycle event type (`virDomainEventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// The persistent config was added or changed.
    Defined,
    /// The persistent config was removed.
    Undefined,
    /// The domain started.
    Started,
    /// The domain was paused.
    Suspended,
    /// The domain was unpaused.
    Resumed,
    /// The domain stopped; the detail says why (`virDomainEventStoppedDetailType`).
    Stopped,
    /// The guest began or finished shutting down (it is not stopped yet).
    Shutdown,
    /// The guest suspended itself to memory or disk.
    PmSuspended,
    /// The guest crashed (with `on_crash=preserve` it stays in the crashed state).
    Crashed,
    /// An event type newer than this code.
    Other(i32),
}

impl Lifecycle {
    /// The event type for libvirt's number.
    pub fn from_raw(event: i32) -> Lifecycle {
        match event {
            0 => Lifecycle::Defined,
            1 => Lifecycle::Undefined,
            2 => Lifecycle::Started,
            3 => Lifecycle::Suspended,
            4 => Lifecycle::Resumed,
            5 => Lifecycle::Stopped,
            6 => Lifecycle::Shutdown,
            7 => Lifecycle::PmSuspended,
            8 => Lifecycle::Crashed,
            n => Lifecycle::Other(n),
        }
    }
}

/// What libvirt reported, tagged with the `source` number given at subscription so that
/// one channel can serve several connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A domain lifecycle event.
    Lifecycle {
        /// The subscription's tag.
        source: usize,
        /// The domain's UUID, lowercase and hyphenated.
        uuid: String,
        /// The domain's name.
        name: String,
        /// What happened.
        event: Lifecycle,
        /// libvirt's detail number for that event type.
        detail: i32,
    },
    /// The guest reset itself (VIR_DOMAIN_EVENT_ID_REBOOT): under on_reboot=restart it
    /// goes on running, from its firmware.
    Reboot {
        /// The subscription's tag.
        source: usize,
        /// The domain's UUID, lowercase and hyphenated.
        uuid: String,
    },
    /// Bytes the guest printed on its console (`console::follow`).
    Console {
        /// The tag given to `console::follow`.
        watch: usize,
        /// What was printed.
        data: Vec<u8>,
    },
    /// The console stream ended (the guest stopped, or the connection went away).
    ConsoleEnd {
        /// The tag given to `console::follow`.
        watch: usize,
    },
    /// The tool's own input has something for it (dom-wait-shutdown's record reader):
    /// not libvirt's, so what it is travels on the tool's own channel.
    Input,
    /// The connection was closed under us (daemon gone, keepalive timeout, ...).
    Closed {
        /// The subscription's tag.
        source: usize,
        /// `virConnectCloseReason`.
        reason: i32,
    },
}

/// What each callback needs: where to send, and which tag to put on it.
struct Sink {
    tx: Sender<Notice>,
    source: usize,
}

/// A live registration for lifecycle and reboot events and close notices on one
/// connection; dropping it deregisters all three.
pub struct Subscription {
    conn: Connect,
    callback_id: c_int,
    reboot_id: Option<c_int>,
    close_registered: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("callback_id", &self.callback_id)
            .finish()
    }
}

unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY: `opaque` is the `Box<Sink>` leaked at registration; libvirt frees it through
    // `free_sink` only after the callback is deregistered, so it is alive here.
    let sink = unsafe { &*(opaque as *const Sink) };
    // SAFETY: libvirt passes a valid domain for the duration of the callback; the UUID buffer
    // has VIR_UUID_STRING_BUFLEN (37) bytes as the API requires.
    let (uuid, name) = unsafe {
        let mut buf = [0 as c_char; 37];
        let uuid = if sys::virDomainGetUUIDString(dom, buf.as_mut_ptr()) == 0 {
            CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
        } else {
            String::new()
        };
        let name_ptr = sys::virDomainGetName(dom);
        let name = if name_ptr.is_null() {
            String::new()
        } else {
            CStr::from_ptr(name_ptr).to_string_lossy().into_owned()
        };
        (uuid, name)
    };
    // A receiver that went away just means nobody is listening any more.
    let _ = sink.tx.send(Notice::Lifecycle {
        source: sink.source,
        uuid,
        name,
        event: Lifecycle::from_raw(event),
        detail,
    });
    0
}

unsafe extern "C" fn on_reboot(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    opaque: *mut c_void,
) {
    // SAFETY: as in `on_lifecycle`, `opaque` is our live `Box<Sink>`.
    let sink = unsafe { &*(opaque as *const Sink) };
    // SAFETY: libvirt passes a valid domain for the duration of the callback; the UUID
    // buffer has VIR_UUID_STRING_BUFLEN (37) bytes.
    let uuid = unsafe {
        let mut buf = [0 as c_char; 37];
        if sys::virDomainGetUUIDString(dom, buf.as_mut_ptr()) == 0 {
            CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
        } else {
            String::new()
        }
    };
    let _ = sink.tx.send(Notice::Reboot {
        source: sink.source,
        uuid,
    });
}

unsafe extern "C" fn on_close(_conn: sys::virConnectPtr, reason: c_int, opaque: *mut c_void) {
    // SAFETY: as in `on_lifecycle`, `opaque` is our live `Box<Sink>`.
    let sink = unsafe { &*(opaque as *const Sink) };
    let _ = sink.tx.send(Notice::Closed {
        source: sink.source,
        reason,
    });
}

unsafe extern "C" fn free_sink(opaque: *mut c_void) {
    // SAFETY: libvirt calls this exactly once per registration, with the pointer we leaked
    // from a `Box<Sink>` in `Subscription::new`.
    drop(unsafe { Box::from_raw(opaque as *mut Sink) });
}

impl Subscription {
    /// Registers for every domain's lifecycle events and for the connection's close notice;
    /// both arrive on `tx` tagged with `source`. The event loop must be running
    /// (`connect::init`) and must have been registered before `conn` was opened. libvirt
    /// allows one such subscription per connection.
    ///
    /// # Errors
    /// libvirt refused the registration.
    pub fn new(
        conn: &Connect,
        tx: Sender<Notice>,
        source: usize,
    ) -> Result<Subscription, virt::error::Error> {
        let lifecycle_sink = Box::into_raw(Box::new(Sink {
            tx: tx.clone(),
            source,
        }));
        type Lifecycle = unsafe extern "C" fn(
            sys::virConnectPtr,
            sys::virDomainPtr,
            c_int,
            c_int,
            *mut c_void,
        ) -> c_int;
        type Generic = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void);
        // SAFETY: libvirt's API takes every event callback as the generic type and calls it
        // with the signature that belongs to the event ID (VIR_DOMAIN_EVENT_CALLBACK in C);
        // on_lifecycle has exactly virConnectDomainEventCallback's signature. The connection
        // pointer is valid while `conn` lives; the sink is freed by libvirt via free_sink.
        let callback_id = unsafe {
            let generic = std::mem::transmute::<Lifecycle, Generic>(on_lifecycle);
            sys::virConnectDomainEventRegisterAny(
                conn.as_ptr(),
                std::ptr::null_mut(),
                sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
                Some(generic),
                lifecycle_sink as *mut c_void,
                Some(free_sink),
            )
        };
        if callback_id < 0 {
            let err = virt::error::Error::last_error();
            // SAFETY: on failure libvirt does not keep (or free) the sink: it is still ours.
            drop(unsafe { Box::from_raw(lifecycle_sink) });
            return Err(err);
        }
        let mut sub = Subscription {
            conn: conn.clone(),
            callback_id,
            reboot_id: None,
            close_registered: false,
        };
        let reboot_sink = Box::into_raw(Box::new(Sink {
            tx: tx.clone(),
            source,
        }));
        // SAFETY: on_reboot has exactly virConnectDomainEventGenericCallback's signature,
        // the type VIR_DOMAIN_EVENT_ID_REBOOT uses; the sink is freed by libvirt via
        // free_sink once deregistered (in Drop, as `sub` is dropped on every error path).
        let reboot_id = unsafe {
            sys::virConnectDomainEventRegisterAny(
                conn.as_ptr(),
                std::ptr::null_mut(),
                sys::VIR_DOMAIN_EVENT_ID_REBOOT as c_int,
                Some(on_reboot),
                reboot_sink as *mut c_void,
                Some(free_sink),
            )
        };
        if reboot_id < 0 {
            let err = virt::error::Error::last_error();
            // SAFETY: on failure libvirt does not keep (or free) the sink: it is still ours.
            drop(unsafe { Box::from_raw(reboot_sink) });
            return Err(err);
        }
        sub.reboot_id = Some(reboot_id);
        let close_sink = Box::into_raw(Box::new(Sink { tx, source }));
        // SAFETY: valid connection; on_close has virConnectCloseFunc's signature; the sink is
        // freed by libvirt via free_sink once unregistered. Drivers without close
        // notification (test:///) accept and drop the registration, leaking one small Box.
        let rc = unsafe {
            sys::virConnectRegisterCloseCallback(
                conn.as_ptr(),
                Some(on_close),
                close_sink as *mut c_void,
                Some(free_sink),
            )
        };
        if rc < 0 {
            let err = virt::error::Error::last_error();
            // SAFETY: the registration failed, so the sink is still ours to free.
            drop(unsafe { Box::from_raw(close_sink) });
            return Err(err);
        }
        sub.close_registered = true;
        Ok(sub)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Errors are ignored: on a dead connection there is nothing left to deregister from.
        // SAFETY: the connection pointer is valid (we hold a reference); the ID and callback
        // are the ones registered in `new`.
        unsafe {
            if sys::virConnectDomainEventDeregisterAny(self.conn.as_ptr(), self.callback_id) < 0 {
                sys::virResetLastError();
            }
            if let Some(id) = self.reboot_id
                && sys::virConnectDomainEventDeregisterAny(self.conn.as_ptr(), id) < 0
            {
                sys::virResetLastError();
            }
            if self.close_registered
                && sys::virConnectUnregisterCloseCallback(self.conn.as_ptr(), Some(on_close)) < 0
            {
                sys::virResetLastError();
            }
        }
    }
}

/// Disk and network activity of one running domain: the sum of its block request and
/// byte counters and its interface packet and byte counters. The sum only grows while the
/// guest does I/O, so "unchanged" means "no disk or network I/O since the last reading".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The domain's UUID, lowercase and hyphenated.
    pub uuid: String,
    /// Sum of the block.N.{rd,wr,fl}.{reqs,bytes} and net.N.{rx,tx}.{bytes,pkts} counters.
    pub io: u64,
}

/// The activity of every running domain of the connection, in one call
/// (virConnectGetAllDomainStats with block and interface statistics).
///
/// # Errors
/// libvirt's error.
pub fn io_activity(conn: &Connect) -> Result<Vec<Activity>, virt::error::Error> {
    let mut records: *mut sys::virDomainStatsRecordPtr = std::ptr::null_mut();
    // SAFETY: valid connection; libvirt allocates the NULL-terminated record array into
    // `records`, which is freed below with virDomainStatsRecordListFree.
    let count = unsafe {
        sys::virConnectGetAllDomainStats(
            conn.as_ptr(),
            sys::VIR_DOMAIN_STATS_BLOCK | sys::VIR_DOMAIN_STATS_INTERFACE,
            &mut records,
            sys::VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE,
        )
    };
    if count < 0 {
        return Err(virt::error::Error::last_error());
    }
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        // SAFETY: `records` holds `count` valid record pointers; each record's `params`
        // holds `nparams` typed parameters, alive until the list is freed below.
        unsafe {
            let record = &**records.add(i);
            let mut buf = [0 as c_char; 37];
            if sys::virDomainGetUUIDString(record.dom, buf.as_mut_ptr()) != 0 {
                continue;
            }
            let uuid = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
            let mut io: u64 = 0;
            for p in 0..record.nparams.max(0) as usize {
                let param = &*record.params.add(p);
                if param.type_ != sys::VIR_TYPED_PARAM_ULLONG as c_int {
                    continue;
                }
                let field = CStr::from_ptr(param.field.as_ptr()).to_bytes();
                if is_io_counter(field) {
                    io = io.wrapping_add(param.value.ul);
                }
            }
            out.push(Activity { uuid, io });
        }
    }
    if !records.is_null() {
        // SAFETY: the array libvirt allocated above, freed exactly once.
        unsafe { sys::virDomainStatsRecordListFree(records) };
    }
    Ok(out)
}

/// Whether a stats field counts disk or network traffic (not sizes or capacities).
fn is_io_counter(field: &[u8]) -> bool {
    let Ok(field) = std::str::from_utf8(field) else {
        return false;
    };
    let mut parts = field.split('.');
    matches!(
        (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next()
        ),
        (
            Some("block"),
            Some(_),
            Some("rd" | "wr" | "fl"),
            Some("reqs" | "bytes"),
            None
        ) | (
            Some("net"),
            Some(_),
            Some("rx" | "tx"),
            Some("bytes" | "pkts"),
            None
        )
    )
}

/// The domain's state and state reason as libvirt's numbers (`virDomainState`, and the
/// reason enum of that state), with errors reported, unlike virt 0.5's `Domain::state()`.
///
/// # Errors
/// libvirt's error, e.g. VIR_ERR_NO_DOMAIN when a transient domain has vanished.
pub fn domain_state(dom: &Domain) -> Result<(i32, i32), virt::error::Error> {
    let mut state: c_int = -1;
    let mut reason: c_int = -1;
    // SAFETY: `dom` holds a valid domain reference; both out-pointers are live locals.
    let rc = unsafe { sys::virDomainGetState(dom.as_ptr(), &mut state, &mut reason, 0) };
    if rc < 0 {
        return Err(virt::error::Error::last_error());
    }
    Ok((state, reason))
}

/// Ends the process with `code` at once, as `_exit` does: no atexit handlers, no C library
/// destructors. For a process that opened a connection over libvirt's libssh transport:
/// `exit` runs libssh's destructor (`ssh_finalize`), which frees libssh's global state
/// while libvirt's event-loop thread may still be polling or freeing a session (libvirt
/// frees a closed connection's socket later, on that thread); the thread then crashes in
/// libc (SIGSEGV in `libvirt-events`, seen twice in about 130 `domxml-gen -c
/// qemu+libssh://...` runs under load). The caller has flushed stdout; stderr is not
/// buffered.
pub fn exit_at_once(code: i32) -> ! {
    unsafe extern "C" {
        fn _exit(status: c_int) -> !;
    }
    // SAFETY: _exit takes any status and has no preconditions; it ends every thread of the
    // process at once, so no Rust code runs after it with state half torn down.
    unsafe { _exit(code) }
}

/// Tells the receiving end of an upload stream that the next `length` bytes are a hole
/// (`virStreamSendHole`), for a stream of a `VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM` upload.
/// domkit sends data and holes itself, as `virStreamSparseSendAll` would, so that no
/// callback crosses the C boundary and the progress line and errors stay in Rust.
///
/// # Errors
/// libvirt's error, e.g. a broken connection.
pub fn send_hole(stream: &virt::stream::Stream, length: i64) -> Result<(), virt::error::Error> {
    // SAFETY: `stream` holds a valid stream reference for the duration of the call; the
    // call takes no pointers besides it.
    let rc = unsafe { sys::virStreamSendHole(stream.as_ptr(), length, 0) };
    if rc < 0 {
        return Err(virt::error::Error::last_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::libvirt::testing::domain_xml;

    /// The next lifecycle event of domain `uuid`, within a deadline.
    fn next_for(rx: &mpsc::Receiver<Notice>, uuid: &str) -> (Lifecycle, i32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left).expect("an event before the deadline") {
                Notice::Lifecycle {
                    uuid: u,
                    event,
                    detail,
                    source,
                    ..
                } if u == uuid => {
                    assert_eq!(source, 7);
                    return (event, detail);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn lifecycle_events_arrive_in_order() {
        let conn = crate::libvirt::testing::open();
        let (tx, rx) = mpsc::channel();
        let sub = Subscription::new(&conn.connect, tx, 7).unwrap();
        let (xml, uuid) = domain_xml("events-order");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        dom.create().unwrap();
        dom.destroy().unwrap();
        dom.undefine().unwrap();
        assert_eq!(next_for(&rx, &uuid).0, Lifecycle::Defined);
        assert_eq!(next_for(&rx, &uuid).0, Lifecycle::Started);
        // detail 1: VIR_DOMAIN_EVENT_STOPPED_DESTROYED
        assert_eq!(next_for(&rx, &uuid), (Lifecycle::Stopped, 1));
        assert_eq!(next_for(&rx, &uuid).0, Lifecycle::Undefined);
        drop(sub);
    }

    #[test]
    fn no_events_after_the_subscription_is_dropped() {
        let conn = crate::libvirt::testing::open();
        let (tx, rx) = mpsc::channel();
        // libvirt allows one registration of a callback per connection: use two.
        let other = crate::libvirt::testing::open();
        let dropped = Subscription::new(&other.connect, tx.clone(), 1).unwrap();
        let _kept = Subscription::new(&conn.connect, tx, 7).unwrap();
        drop(dropped);
        let (xml, uuid) = domain_xml("events-dropped");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        dom.undefine().unwrap();
        // Both callbacks would see the same events in the same order: once the kept one has
        // the undefine, the dropped one would have had the define.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left).expect("an event before the deadline") {
                Notice::Lifecycle {
                    source: 1, uuid: u, ..
                } if u == uuid => {
                    panic!("event after deregistration")
                }
                Notice::Lifecycle {
                    source: 7,
                    uuid: u,
                    event: Lifecycle::Undefined,
                    ..
                } if u == uuid => {
                    break;
                }
                _ => {}
            }
        }
    }

    #[test]
    fn state_of_a_vanished_domain_is_an_error() {
        let conn = crate::libvirt::testing::open();
        let (xml, _) = domain_xml("events-vanish");
        let dom = conn.connect.create_domain_xml(&xml, 0).unwrap();
        assert_eq!(
            domain_state(&dom).unwrap().0,
            sys::VIR_DOMAIN_RUNNING as i32
        );
        dom.destroy().unwrap();
        let err = domain_state(&dom).unwrap_err();
        assert_eq!(err.code().to_raw(), sys::VIR_ERR_NO_DOMAIN);
    }
}
