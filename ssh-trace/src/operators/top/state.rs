//! What `top` shows, without a terminal: rows sorted by traffic rate, the
//! selection (kept on the same session across refreshes) and the detail.
use std::collections::HashMap;

use crate::{
    operators::live::{Detail, Listing, Row},
    terminal::screen::Screen,
};

#[derive(Clone, Debug, PartialEq)]
pub struct TopRow {
    pub row: Row,
    /// Bytes per second (in + out) since the previous refresh.
    pub rate: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    Enter,
    Back,
    /// Shows (or hides) the selected session's live screen.
    Screen,
    Quit,
}

#[derive(Default)]
pub struct TopState {
    pub rows: Vec<TopRow>,
    /// Total bytes of each session at the previous refresh, and when.
    prev: HashMap<String, u64>,
    prev_ns: Option<u64>,
    pub selected: Option<String>,
    pub detail_open: bool,
    pub detail: Option<Detail>,
    /// The selected session's recorded terminal, shown live.
    pub screen_open: bool,
    pub screen: Option<Result<Screen, String>>,
    pub error: Option<String>,
    pub quit: bool,
}

fn total(r: &Row) -> u64 {
    r.bytes_in.unwrap_or(0) + r.bytes_out.unwrap_or(0)
}

impl TopState {
    pub fn update(&mut self, l: Listing, now_ns: u64) {
        let dt = self
            .prev_ns
            .map(|p| now_ns.saturating_sub(p) as f64 / 1e9)
            .filter(|d| *d > 0.0);
        let mut rows: Vec<TopRow> = l
            .sessions
            .into_iter()
            .map(|row| {
                let rate = match (dt, self.prev.get(&row.id)) {
                    (Some(dt), Some(&before)) => total(&row).saturating_sub(before) as f64 / dt,
                    _ => 0.0,
                };
                TopRow { row, rate }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.rate
                .total_cmp(&a.rate)
                .then(a.row.start_ns.cmp(&b.row.start_ns))
                .then(a.row.id.cmp(&b.row.id))
        });
        self.prev = rows
            .iter()
            .map(|r| (r.row.id.clone(), total(&r.row)))
            .collect();
        self.prev_ns = Some(now_ns);
        self.rows = rows;
        self.error = None;
        // The selected session ended: select the first one.
        if !self
            .selected
            .as_ref()
            .is_some_and(|s| self.prev.contains_key(s))
        {
            self.selected = self.rows.first().map(|r| r.row.id.clone());
            self.detail = None;
            self.screen = None;
            self.detail_open &= self.selected.is_some();
            self.screen_open &= self.selected.is_some();
        }
    }

    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_ref()?;
        self.rows.iter().position(|r| &r.row.id == id)
    }

    pub fn key(&mut self, k: Key) {
        let n = self.rows.len();
        let i = self.selected_index();
        let pick = |j: usize| self.rows.get(j).map(|r| r.row.id.clone());
        match k {
            Key::Quit => self.quit = true,
            Key::Up => {
                if let Some(j) = i.map(|i| i.saturating_sub(1)).or((n > 0).then_some(0)) {
                    self.selected = pick(j);
                }
            }
            Key::Down => {
                if let Some(j) = i
                    .map(|i| (i + 1).min(n.saturating_sub(1)))
                    .or((n > 0).then_some(0))
                {
                    self.selected = pick(j);
                }
            }
            Key::Enter => {
                self.detail_open = self.selected.is_some();
                self.screen_open = false;
            }
            Key::Screen => {
                self.screen_open = !self.screen_open && self.selected.is_some();
                self.detail_open = false;
                self.screen = None;
            }
            Key::Back => {
                self.detail_open = false;
                self.detail = None;
                self.screen_open = false;
                self.screen = None;
            }
        }
        if matches!(k, Key::Up | Key::Down)
            && self
                .detail
                .as_ref()
                .is_some_and(|d| Some(&d.session.id) != self.selected.as_ref())
        {
            self.detail = None;
        }
        if matches!(k, Key::Up | Key::Down) {
            self.screen = None;
        }
    }
}
