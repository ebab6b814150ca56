//! Child processes that never outlive the launcher: each is spawned from one long-lived thread
//! with a parent-death signal, optionally as the unprivileged `postgres` user (initdb and
//! postgres refuse to run as root).

#![allow(unsafe_code)] // pre_exec: setuid/setgid and prctl between fork and exec.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

type Job = (Command, Option<(u32, u32)>, i32, Sender<io::Result<Child>>);

/// The parent-death signal fires when the *thread* that spawned the child exits, so all
/// children are spawned from this thread, which lives as long as the process.
fn spawner() -> &'static Mutex<Sender<Job>> {
    static SPAWNER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::spawn(move || {
            for (mut cmd, user, signal, reply) in rx {
                let _ = reply.send(spawn_here(&mut cmd, user, signal));
            }
        });
        Mutex::new(tx)
    })
}

fn spawn_here(cmd: &mut Command, user: Option<(u32, u32)>, signal: i32) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: only async-signal-safe libc calls run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // The launcher blocks SIGINT/SIGTERM to wait for them; children must not inherit that.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if let Some((uid, gid)) = user {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            // Set after the uid change: changing credentials clears the parent-death signal.
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The launcher died before the signal was armed: do not outlive it.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// The uid/gid of the `postgres` user when running as root (`None` when not root).
pub fn postgres_user() -> io::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = c"postgres";
    // SAFETY: getpwnam with a valid C string; the result is copied out immediately.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(io::Error::other(
            "running as root, but there is no 'postgres' user to run PostgreSQL as",
        ));
    }
    // SAFETY: pw is non-null and points to a passwd record owned by libc.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some((uid, gid)))
}

/// Spawns `cmd`; it receives `signal` if the launcher dies, and runs as `user` if given.
pub fn spawn(cmd: Command, user: Option<(u32, u32)>, signal: i32) -> io::Result<Child> {
    let (tx, rx) = channel();
    spawner()
        .lock()
        .map_err(|_| io::Error::other("spawner poisoned"))?
        .send((cmd, user, signal, tx))
        .map_err(|_| io::Error::other("spawner gone"))?;
    rx.recv().map_err(|_| io::Error::other("spawner gone"))?
}

/// Sends `signal` to a child that is still running, waits up to 10 s, then kills it.
pub fn stop(child: &mut Child, signal: i32) {
    // A child already reaped must not be signalled: its pid may belong to another process now.
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill on the pid of our own child, which has not been reaped.
        unsafe {
            libc::kill(pid, signal);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Changes the owner of a path (so the postgres user can use a temp dir made by root).
pub fn chown(path: &std::path::Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// Blocks SIGINT and SIGTERM in this thread (call before other threads exist) so that
/// [`wait_for_stop_signal`] can take them.
pub fn block_stop_signals() {
    // SAFETY: plain signal-mask manipulation on a zeroed, then initialised sigset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits until SIGINT or SIGTERM arrives; returns the signal.
pub fn wait_for_stop_signal() -> i32 {
    // SAFETY: sigwait on an initialised set of signals blocked by block_stop_signals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
        sig
    }
}
