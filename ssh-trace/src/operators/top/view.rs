//! Drawing `top`: the session table, and the selected session's process
//! tree and recent events below it when open.
use ratatui::{
    layout::{Constraint, Layout},
    style::{Modifier, Style},
    text::Line,
    widgets::{Block, Paragraph, Row as TRow, Table, TableState},
    Frame,
};

use super::state::TopState;
use crate::operators::{cli::duration, live::Detail};

fn rate(b: f64) -> String {
    if b >= 1e6 {
        format!("{:.1}M/s", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1}k/s", b / 1e3)
    } else {
        format!("{b:.0}B/s")
    }
}

pub fn draw(f: &mut Frame, s: &TopState, now_ns: u64) {
    let areas = if s.screen_open {
        Layout::vertical([Constraint::Percentage(25), Constraint::Percentage(75)]).split(f.area())
    } else if s.detail_open {
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).split(f.area())
    } else {
        Layout::vertical([Constraint::Percentage(100)]).split(f.area())
    };
    let header = TRow::new([
        "SESSION", "USER", "SOURCE", "AUTH", "RATE", "DURATION", "IDLE", "TTY", "WHAT",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = s.rows.iter().map(|r| {
        let age = now_ns.saturating_sub(r.row.start_ns) / 1_000_000_000;
        TRow::new([
            crate::operators::cli::short(&r.row.id).to_owned(),
            r.row.user.clone().unwrap_or_else(|| "-".into()),
            r.row.source.clone().unwrap_or_else(|| "?".into()),
            r.row.method.clone().unwrap_or_else(|| "-".into()),
            rate(r.rate),
            duration(age),
            r.row.idle_s.map(duration).unwrap_or_else(|| "-".into()),
            r.row.tty.clone().unwrap_or_else(|| "-".into()),
            r.row.command.clone().unwrap_or_else(|| "-".into()),
        ])
    });
    let title = match &s.error {
        Some(e) => format!(" ssh-trace top: {e} "),
        None => format!(
            " ssh-trace top: {} open sessions (Enter: details, s: screen, Esc: back, q: quit) ",
            s.rows.len()
        ),
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(16),
            Constraint::Length(21),
            Constraint::Length(20),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .block(Block::bordered().title(title))
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut ts = TableState::default().with_selected(s.selected_index());
    f.render_stateful_widget(table, areas[0], &mut ts);
    if s.screen_open {
        screen(f, s, areas[1]);
    } else if s.detail_open {
        let title = format!(" session {} ", s.selected.as_deref().unwrap_or(""));
        f.render_widget(
            Paragraph::new(detail_lines(s.detail.as_ref())).block(Block::bordered().title(title)),
            areas[1],
        );
    }
}

/// The screen pane: the session's terminal as it shows now, redrawn by a
/// terminal emulator from the agent's copy.
fn screen(f: &mut Frame, s: &TopState, area: ratatui::layout::Rect) {
    let id = s.selected.as_deref().unwrap_or("");
    match &s.screen {
        Some(Ok(sc)) => {
            let title = format!(" screen of {id} ({}x{}) ", sc.cols, sc.rows);
            let block = Block::bordered().title(title);
            f.render_widget(Paragraph::new(super::screen::lines(sc)).block(block), area);
        }
        other => {
            let msg = match other {
                Some(Err(e)) => e.clone(),
                _ => "loading…".into(),
            };
            let block = Block::bordered().title(format!(" screen of {id} "));
            f.render_widget(Paragraph::new(msg).block(block), area);
        }
    }
}

/// The detail pane: the process tree, indented, then recent events.
fn detail_lines(detail: Option<&Detail>) -> Vec<Line<'static>> {
    let Some(d) = detail else {
        return vec![Line::from("loading…")];
    };
    let depth = |pid: u32| {
        let mut n = 0;
        let mut p = pid;
        while let Some(r) = d.tree.iter().find(|r| r.pid == p) {
            if !d.tree.iter().any(|x| x.pid == r.ppid) {
                break;
            }
            p = r.ppid;
            n += 1;
        }
        n
    };
    let mut lines = Vec::new();
    let s = &d.session;
    if let Some(m) = &s.method {
        let key = s.key.as_deref().unwrap_or("no key");
        lines.push(Line::from(format!("Logged in by {m}: {key}")));
    }
    lines.push(Line::from("Processes:"));
    for p in &d.tree {
        let indent = "  ".repeat(depth(p.pid));
        lines.push(Line::from(format!("  {indent}{} {}", p.pid, p.command)));
    }
    lines.push(Line::from("Recent events:"));
    lines.extend(d.recent.iter().map(|e| Line::from(format!("  {e}"))));
    lines
}
