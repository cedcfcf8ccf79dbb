//! A terminal for tests: a detached tmux session of a given size running a
//! command, typed into with send-keys and read with capture-pane.
use std::{process::Command, time::Duration};

use crate::wait_until;

pub struct Tmux(pub String);

impl Tmux {
    /// `cmd` (a shell command line) in a new session `cols` × `rows`.
    pub fn start(name: &str, cols: u16, rows: u16, cmd: &str) -> Tmux {
        let t = Tmux(format!("sshtrace-{name}-{}", std::process::id()));
        let (x, y) = (cols.to_string(), rows.to_string());
        t.cmd(&["new-session", "-d", "-s", &t.0, "-x", &x, "-y", &y, cmd]);
        t
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux (run `cargo xtask setup`)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The visible screen as text.
    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", &self.0])
    }

    /// The visible screen with its colours and attributes (escapes).
    pub fn screen_styled(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-e", "-t", &self.0])
    }

    /// Types `keys` literally, then Enter.
    pub fn type_line(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", &self.0, "-l", keys]);
        self.cmd(&["send-keys", "-t", &self.0, "Enter"]);
    }

    pub fn wait_screen(&self, what: impl Fn(&str) -> bool) -> Option<String> {
        wait_until(Duration::from_secs(30), || {
            Some(self.screen()).filter(|s| what(s))
        })
    }

    /// Waits until the screen shows `what` and then stays the same for
    /// half a second; returns it styled.
    pub fn settled(&self, what: impl Fn(&str) -> bool) -> Option<String> {
        let mut last = String::new();
        wait_until(Duration::from_secs(60), || {
            let now = self.screen_styled();
            let same = now == last && what(&self.screen());
            last = now.clone();
            std::thread::sleep(Duration::from_millis(400));
            same.then_some(now)
        })
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        let (x, y) = (cols.to_string(), rows.to_string());
        self.cmd(&["resize-window", "-t", &self.0, "-x", &x, "-y", &y]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}
