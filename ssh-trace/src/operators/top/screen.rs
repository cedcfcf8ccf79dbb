//! A session's live screen drawn in `top`: the agent's copy redrawn by a
//! terminal emulator here, each cell with its colours and attributes.
use std::num::NonZeroU16;

use ratatui::{
    style::{Color, Modifier, Style},
    text::{Line, Span},
};

use crate::terminal::screen::Screen;

fn colour(c: vt100::Color) -> Color {
    match c {
        vt100::Color::Default => Color::Reset,
        vt100::Color::Idx(i) => Color::Indexed(i),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

fn style(c: &vt100::Cell) -> Style {
    let mut s = Style::default()
        .fg(colour(c.fgcolor()))
        .bg(colour(c.bgcolor()));
    for (on, m) in [
        (c.bold(), Modifier::BOLD),
        (c.dim(), Modifier::DIM),
        (c.italic(), Modifier::ITALIC),
        (c.underline(), Modifier::UNDERLINED),
        (c.inverse(), Modifier::REVERSED),
    ] {
        if on {
            s = s.add_modifier(m);
        }
    }
    s
}

/// The screen's rows as styled lines (runs of one style are one span).
pub fn lines(sc: &Screen) -> Vec<Line<'static>> {
    let size = |v| NonZeroU16::new(v).unwrap_or(NonZeroU16::MIN);
    let mut p = vt100::Parser::new(size(sc.rows), size(sc.cols), 0);
    p.process(sc.formatted.as_bytes());
    let s = p.screen();
    (0..sc.rows)
        .map(|r| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            let mut run = (String::new(), Style::default());
            for c in (0..sc.cols).filter_map(|col| s.cell(r, col)) {
                if c.is_wide_continuation() {
                    continue;
                }
                let st = style(c);
                if st != run.1 && !run.0.is_empty() {
                    spans.push(Span::styled(std::mem::take(&mut run.0), run.1));
                }
                run.1 = st;
                run.0
                    .push_str(if c.has_contents() { c.contents() } else { " " });
            }
            spans.push(Span::styled(run.0, run.1));
            Line::from(spans)
        })
        .collect()
}
