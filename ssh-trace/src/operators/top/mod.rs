//! `ssh-trace top`: open sessions by traffic, refreshed every second from
//! the agent's session socket.
mod screen;
pub mod state;
#[cfg(test)]
mod tests;
mod view;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};

use crate::{
    host,
    operators::{
        live::{Detail, Listing},
        socket::{self, Request},
    },
    terminal::screen::Screen,
};
use state::{Key, TopState};

const REFRESH: Duration = Duration::from_secs(1);
/// A live screen is fetched this often.
const SCREEN_REFRESH: Duration = Duration::from_millis(250);

fn fetch(path: &Path, s: &mut TopState) {
    let now = host::now_unix_ns();
    match socket::request(path, &Request::List)
        .map_err(|e| e.to_string())
        .and_then(|j| serde_json::from_str::<Listing>(&j).map_err(|e| e.to_string()))
    {
        Ok(l) => s.update(l, now),
        Err(e) => s.error = Some(format!("{}: {e}", path.display())),
    }
    if let (true, Some(id)) = (s.detail_open, s.selected.clone()) {
        s.detail = socket::request(path, &Request::Detail(id))
            .ok()
            .and_then(|j| serde_json::from_str::<Detail>(&j).ok());
    }
    fetch_screen(path, s);
}

/// The selected session's live screen, or why there is none.
fn fetch_screen(path: &Path, s: &mut TopState) {
    let (true, Some(id)) = (s.screen_open, s.selected.clone()) else {
        return;
    };
    s.screen = Some(
        socket::request(path, &Request::Screen(id))
            .map_err(|e| e.to_string())
            .and_then(|j| {
                serde_json::from_str::<Screen>(&j).map_err(|_| {
                    serde_json::from_str::<serde_json::Value>(&j)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_owned))
                        .unwrap_or(j)
                })
            }),
    );
}

pub fn run(path: &Path) -> Result<()> {
    // Fail before taking over the terminal when no agent answers.
    if let Err(e) = socket::request(path, &Request::List) {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(socket::refusal(path));
        }
        bail!("no running agent: cannot read {}: {e}", path.display());
    }
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let mut s = TopState::default();
    let result = (|| -> Result<()> {
        let mut next = Instant::now();
        while !s.quit {
            if Instant::now() >= next {
                fetch(path, &mut s);
                next = Instant::now()
                    + if s.screen_open {
                        SCREEN_REFRESH
                    } else {
                        REFRESH
                    };
            }
            let now = host::now_unix_ns();
            terminal.draw(|f| view::draw(f, &s, now))?;
            if event::poll(next.saturating_duration_since(Instant::now()))? {
                if let Event::Key(k) = event::read()? {
                    if k.kind != KeyEventKind::Press {
                        continue;
                    }
                    let key = match k.code {
                        KeyCode::Char('q') => Key::Quit,
                        KeyCode::Up | KeyCode::Char('k') => Key::Up,
                        KeyCode::Down | KeyCode::Char('j') => Key::Down,
                        KeyCode::Enter => Key::Enter,
                        KeyCode::Esc | KeyCode::Backspace => Key::Back,
                        KeyCode::Char('s') => Key::Screen,
                        _ => continue,
                    };
                    s.key(key);
                    if matches!(key, Key::Enter | Key::Screen) {
                        // Show it at once, not at the next refresh.
                        fetch(path, &mut s);
                    }
                }
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result
}
