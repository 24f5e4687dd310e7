//! The upstream server process, when the enclave starts it itself: started,
//! watched, and stopped with the engine.
//!
//! If the process ends, whether while loading its model or while serving,
//! the engine learns it at once and its errors say how it ended (exit
//! status or signal) instead of timing out on a refused connection.
//!
//! Privacy: the server's standard output is discarded. Its standard error
//! is kept (the last [`TAIL_LINES`] lines) only until the engine starts
//! serving, when no prompt has been sent yet, so an error about a crash
//! at start-up can show why; from then on it is read and dropped, because
//! servers such as llama.cpp log prompts at some levels.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{oneshot, watch};

use blindfold_engine::EngineError;

/// Lines of start-up standard error kept for the error message.
pub const TAIL_LINES: usize = 12;
/// Longest line kept (longer lines are cut).
const LINE_CHARS: usize = 240;

/// How the process ended, and what it printed while starting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessExit {
    /// "exited with status 1", "was killed by signal SIGSEGV".
    pub how: String,
    /// The last lines of its standard error before it began serving.
    pub last_lines: Vec<String>,
    /// Whether it had begun serving (its later output was not kept).
    pub was_serving: bool,
}

impl ProcessExit {
    /// The engine error saying so.
    pub fn error(&self) -> EngineError {
        EngineError::UpstreamExited {
            how: self.how.clone(),
            last_lines: self.last_lines.clone(),
            was_serving: self.was_serving,
        }
    }
}

/// Watches a started process: cheap to clone, one per user.
#[derive(Clone)]
pub struct ProcessWatch {
    exit: watch::Receiver<Option<ProcessExit>>,
    tail: Arc<Mutex<StderrTail>>,
}

impl ProcessWatch {
    /// How it ended, if it has.
    pub fn exited(&self) -> Option<ProcessExit> {
        self.exit.borrow().clone()
    }

    /// Waits until it ends (forever if it never does).
    pub async fn ended(&self) -> ProcessExit {
        let mut exit = self.exit.clone();
        let seen = match exit.wait_for(Option::is_some).await {
            Ok(e) => e.clone(),
            // The watcher task is gone (its runtime stopped).
            Err(_) => None,
        };
        seen.or_else(|| exit.borrow().clone())
            .unwrap_or_else(unknown_exit)
    }

    /// Waits at most `limit` for it to end.
    pub async fn ended_within(&self, limit: Duration) -> Option<ProcessExit> {
        tokio::time::timeout(limit, self.ended()).await.ok()
    }

    /// Stops keeping its standard error: from now on it may carry prompts.
    pub fn mark_serving(&self) {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.keep = false;
        tail.lines.clear();
    }
}

fn unknown_exit() -> ProcessExit {
    ProcessExit {
        how: "ended (its watcher stopped)".into(),
        last_lines: Vec::new(),
        was_serving: false,
    }
}

struct StderrTail {
    keep: bool,
    lines: VecDeque<String>,
}

/// A server process the engine started. Dropping it kills the process.
pub struct UpstreamProcess {
    pid: Option<u32>,
    watch: ProcessWatch,
    kill: Option<oneshot::Sender<()>>,
}

impl UpstreamProcess {
    /// Starts `argv` (program first); must run inside a tokio runtime.
    pub fn spawn(argv: &[String]) -> Result<Self, EngineError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| EngineError::Upstream("the upstream command is empty".into()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| EngineError::Upstream(format!("starting {program}: {e}")))?;
        let pid = child.id();
        let tail = Arc::new(Mutex::new(StderrTail {
            keep: true,
            lines: VecDeque::new(),
        }));
        let reader = child.stderr.take().map(|stderr| {
            let tail = tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr);
                let mut line = Vec::new();
                while lines.read_until(b'\n', &mut line).await.unwrap_or(0) > 0 {
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    if t.keep {
                        let text: String = String::from_utf8_lossy(&line)
                            .trim_end()
                            .chars()
                            .take(LINE_CHARS)
                            .collect();
                        if t.lines.len() == TAIL_LINES {
                            t.lines.pop_front();
                        }
                        t.lines.push_back(text);
                    }
                    line.clear();
                }
            })
        });
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let watched_tail = tail.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                // Asked to stop, or the handle was dropped.
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // Let the reader take the last lines the process wrote.
            if let Some(reader) = reader {
                let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
            }
            let t = watched_tail.lock().unwrap_or_else(|p| p.into_inner());
            let exit = ProcessExit {
                how: match status {
                    Ok(s) => describe(s),
                    Err(e) => format!("could not be waited for: {e}"),
                },
                last_lines: t.lines.iter().cloned().collect(),
                was_serving: !t.keep,
            };
            drop(t);
            let _ = exit_tx.send(Some(exit));
        });
        Ok(UpstreamProcess {
            pid,
            watch: ProcessWatch { exit: exit_rx, tail },
            kill: Some(kill_tx),
        })
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// A watch on it, for the engine.
    pub fn watch(&self) -> ProcessWatch {
        self.watch.clone()
    }

    /// Kills it and waits until it has ended.
    pub async fn stop(mut self) -> ProcessExit {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        self.watch.ended().await
    }
}

impl Drop for UpstreamProcess {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

/// "exited with status 1", "was killed by signal SIGSEGV".
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(sig) => {
            let core = if status.core_dumped() { ", core dumped" } else { "" };
            format!("was killed by signal {}{core}", signal_name(sig))
        }
        None => format!("ended ({status})"),
    }
}

/// The usual name of a Linux signal number.
fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return format!("{sig}"),
    };
    format!("{name} ({sig})")
}
