use super::state::{Key, TopState};
use crate::operators::live::{Listing, Row};

fn row(id: &str, bytes: u64, start: u64) -> Row {
    Row {
        id: id.into(),
        user: Some("alice".into()),
        source: Some("10.0.0.1:1".into()),
        start: String::new(),
        start_ns: start,
        idle_s: Some(0),
        bytes_in: Some(bytes),
        bytes_out: Some(0),
        command: None,
        tty: None,
        processes: 1,
        method: None,
        key: None,
    }
}

fn listing(rows: Vec<Row>) -> Listing {
    Listing {
        origin: "agent".into(),
        time: String::new(),
        sessions: rows,
    }
}

#[test]
fn sorted_by_rate_and_selection_follows_the_session() {
    let mut s = TopState::default();
    s.update(listing(vec![row("a", 0, 1), row("b", 0, 2)]), 0);
    assert_eq!(s.selected.as_deref(), Some("a"));
    // Over 2 s: a moved 1000 bytes, b 10000.
    s.update(
        listing(vec![row("a", 1000, 1), row("b", 10_000, 2)]),
        2_000_000_000,
    );
    let ids: Vec<&str> = s.rows.iter().map(|r| r.row.id.as_str()).collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(s.rows[0].rate, 5000.0);
    assert_eq!(
        s.selected.as_deref(),
        Some("a"),
        "the selection stays on its session"
    );
    assert_eq!(s.selected_index(), Some(1));
    s.key(Key::Up);
    assert_eq!(s.selected.as_deref(), Some("b"));
    s.key(Key::Enter);
    assert!(s.detail_open);
    // b ends: selection moves to what is left.
    s.update(listing(vec![row("a", 1000, 1)]), 3_000_000_000);
    assert_eq!(s.selected.as_deref(), Some("a"));
    s.key(Key::Back);
    assert!(!s.detail_open);
    s.key(Key::Quit);
    assert!(s.quit);
}
