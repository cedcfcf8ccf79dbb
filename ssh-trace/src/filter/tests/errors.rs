//! Bad filters: the exact position and message of each error.
use super::*;

const OPS: &str = "=, !=, <, <=, >, >=, contains, startswith, in, exists";

#[track_caller]
fn check(src: &str, position: usize, message: &str) {
    let e = err(src);
    assert_eq!(
        (e.position, e.message.as_str()),
        (position, message),
        "for `{src}`"
    );
}

#[test]
fn missing_pieces() {
    check(
        "user =",
        6,
        "expected a value after `=`, found end of input",
    );
    check(
        "user = alice and",
        16,
        "expected a field, `not` or `(`, found end of input",
    );
    check(
        "user = alice or",
        15,
        "expected a field, `not` or `(`, found end of input",
    );
    check(
        "user alice",
        5,
        &format!("expected an operator ({OPS}) after field `user`, found `alice`"),
    );
    check(
        "user",
        4,
        &format!("expected an operator ({OPS}) after field `user`, found end of input"),
    );
    check("", 0, "empty filter");
    check("  \t", 0, "empty filter");
    check("()", 1, "expected a field, `not` or `(`, found `)`");
    check(
        "user = a and (uid = 1 or)",
        24,
        "expected a field, `not` or `(`, found `)`",
    );
    check(
        "user = and",
        7,
        "expected a value after `=`, found `and`; quote it to match the word",
    );
    check(
        "user = (a, b)",
        7,
        "expected a value after `=`, found `(`; a list needs `in`",
    );
}

#[test]
fn strings_and_characters() {
    check(r#"process.args contains "curl"#, 22, "unterminated string");
    check(r#"user = "a\"#, 7, "unterminated string");
    check(
        r#"user = "a\n""#,
        9,
        r#"unknown escape `\n` in string; only \" and \\ are escapes"#,
    );
    check("user = a & b", 9, "unexpected character `&`");
    check("user ! = x", 5, "unexpected `!`; write `!=` or `not`");
    check(
        r#""user" = x"#,
        0,
        r#"expected a field, found `"user"`; field names are not quoted"#,
    );
    // The first error in the text wins, lexical or not.
    check(
        r#"user = = "open"#,
        7,
        "expected a value after `=`, found `=`",
    );
}

#[test]
fn parentheses() {
    check(
        "(user = alice",
        0,
        "unbalanced parenthesis: `(` is never closed",
    );
    check(
        "((user = alice)",
        0,
        "unbalanced parenthesis: `(` is never closed",
    );
    check(
        "user = alice)",
        12,
        "unbalanced parenthesis: `)` without a matching `(`",
    );
    check(
        "(user = a uid = 1)",
        10,
        "expected `)`, `and` or `or`, found `uid`",
    );
    check(
        "user = alice bob",
        13,
        "expected `and`, `or` or end of input, found `bob`",
    );
}

#[test]
fn lists() {
    check(
        "user in alice",
        8,
        "expected `(` and a list of values after `in`, found `alice`",
    );
    check("user in ()", 5, "empty list after `in`");
    check(
        "user in (a b)",
        11,
        "expected `,` or `)` in the list, found `b`",
    );
    check(
        "user in (a,",
        11,
        "expected a value after `,`, found end of input",
    );
    check(
        "user in (a",
        8,
        "unbalanced parenthesis: `(` is never closed",
    );
    check("user in (a,)", 11, "expected a value after `,`, found `)`");
}

#[test]
fn unknown_fields() {
    check(
        "usr = alice",
        0,
        "unknown field `usr`; did you mean `user`?",
    );
    check(
        "proces.pid = 1",
        0,
        "unknown field `proces.pid`; did you mean `process.pid`?",
    );
    check(
        "pid = 5",
        0,
        "unknown field `pid`; did you mean `process.pid` or `forward.pid` or `agent.pid` or `alert.evidence.pid`?",
    );
    check(
        "user = a and exit_code = 0",
        13,
        "unknown field `exit_code`; did you mean `process.exit_code`?",
    );
    let e = err("frobnicate = 1");
    assert_eq!(e.position, 0);
    assert!(
        e.message.starts_with(
            "unknown field `frobnicate`; fields are time, event, host, session.*, process.*"
        ),
        "{}",
        e.message
    );
    assert!(e
        .message
        .ends_with("source.ip, source.port, destination.ip, destination.port, session"));
}

#[test]
fn values_of_the_wrong_type() {
    check(
        "process.pid = abc",
        14,
        "expected an integer for `process.pid`, found `abc`",
    );
    check(
        "process.pid in (1, x)",
        19,
        "expected an integer for `process.pid`, found `x`",
    );
    check(
        "change.success = yes",
        17,
        "expected true or false for `change.success`, found `yes`",
    );
    check("source.ip in 10.0.0.0/33", 13, "invalid CIDR `10.0.0.0/33`");
    check(
        "source.ip in 2001:db8::/129",
        13,
        "invalid CIDR `2001:db8::/129`",
    );
    check(
        "source.ip = 300.1.1.1",
        12,
        "invalid IP address `300.1.1.1`",
    );
    check(
        "source.ip < 10.0.0.0/8",
        12,
        "`<` compares addresses and `10.0.0.0/8` is a network; use `in`",
    );
    check(
        "time > yesterday",
        7,
        "invalid time `yesterday`; write RFC 3339 in UTC like 2026-11-21T23:42:32Z, \
         or a date like 2026-11-21",
    );
    let e = err("event in (process.exec, proces.exit)");
    assert_eq!(e.position, 24);
    assert_eq!(
        e.message,
        "unknown event `proces.exit`; events are session.connect, session.auth, session.login, \
         process.exec, process.exit, user.change, session.bytes, session.end, file.transfer, \
         session.forward, \
         agent.start, agent.loss, agent.stop, agent.heartbeat, session.tty, alert.new_source, alert.connection_rate, \
         alert.unauthenticated_rate, alert.root_login, alert.privilege_gain, \
         alert.session_bytes, alert.idle, alert.login_after_idle, alert.action_failed, \
         alert.fileless_exec, alert.brute_force, alert.password_spraying, alert.distributed_guessing, \
         alert.forward_target, alert.transfer_bytes"
    );
}

#[test]
fn operators_that_do_not_apply() {
    check(
        "change.success < true",
        15,
        "`<` does not apply to `change.success`, which is a boolean; use = or !=",
    );
    check(
        "process.pid contains 5",
        12,
        "`contains` does not apply to `process.pid`, which is a number; \
         compare numbers with =, !=, <, <=, >, >= or in",
    );
    check(
        "time startswith 2026",
        5,
        "`startswith` does not apply to `time`, which is a time; compare times with <, <=, >, >=",
    );
    check(
        "change.args startswith 1",
        12,
        "`startswith` does not apply to `change.args`, which is a list of numbers",
    );
    check(
        "change.old = 0",
        11,
        "`change.old` is an object: only `change.old exists` applies; compare one of its \
         fields (change.old.uid, change.old.euid, change.old.suid, change.old.gid, \
         change.old.egid, change.old.sgid)",
    );
    check(
        "totals contains x",
        7,
        "`totals` is an object: only `totals exists` applies; compare one of its fields \
         (totals.events, totals.lost)",
    );
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("{}user exists{}", "(".repeat(64), ")".repeat(64));
    assert!(Filter::parse(&ok).is_ok());
    let deep = format!("{}user exists{}", "(".repeat(65), ")".repeat(65));
    check(
        &deep,
        64,
        "filter nested too deeply (more than 64 levels of `(` and `not`)",
    );
    // Far deeper than any stack allows, were it recursed into.
    check(
        &"(".repeat(1_000_000),
        64,
        "filter nested too deeply (more than 64 levels of `(` and `not`)",
    );
    check(
        &"not ".repeat(1_000_000),
        256,
        "filter nested too deeply (more than 64 levels of `(` and `not`)",
    );
    // Long flat chains are fine: they do not nest.
    let chain = format!("{}user exists", "user exists and ".repeat(200_000));
    assert!(parse(&chain).matches(&exec(&[]), HOST));
    let chain = format!("{}user exists", "user = x or ".repeat(200_000));
    assert!(parse(&chain).matches(&exec(&[]), HOST));
}

/// The three lines `Display` should give.
fn shown(column: usize, message: &str, echo: &str) -> String {
    format!(
        "filter error at column {column}: {message}\n  {echo}\n  {}^",
        " ".repeat(column - 1)
    )
}

#[test]
fn display_points_at_the_error() {
    assert_eq!(
        err("user = alice and").to_string(),
        shown(
            17,
            "expected a field, `not` or `(`, found end of input",
            "user = alice and"
        )
    );
    assert_eq!(
        err("user = alice and").to_string().lines().nth(2),
        Some(format!("{}^", " ".repeat(2 + 16)).as_str()),
        "two spaces of indent, then one per character before the error"
    );
    // Columns count characters; the position counts bytes.
    let e = err("user = \"é\" and é");
    assert_eq!(e.position, 16);
    assert_eq!(e.to_string(), shown(16, &e.message, "user = \"é\" and é"));
    // A newline in the filter is echoed as a space to keep the caret aligned.
    assert_eq!(
        err("user =\nalice bob").to_string(),
        shown(
            14,
            "expected `and`, `or` or end of input, found `bob`",
            "user = alice bob"
        )
    );
}

/// The error table of docs/filters.md, checked as written there.
#[test]
fn docs_error_examples() {
    let doc = include_str!("../../../../docs/filters.md");
    let table = doc
        .split("More examples (column, message):")
        .nth(1)
        .expect("docs/filters.md has the error table");
    let mut rows = 0;
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        let [filter, column, message] = cells[..] else {
            panic!("bad row {line}");
        };
        let filter = filter.trim().trim_matches('`');
        let e = err(filter);
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("filter error at column {}: ", column.trim())),
            "{filter}: {shown}"
        );
        let message = message.trim();
        // The table shortens long lists with `…`: compare what comes before.
        match message.split_once('…') {
            Some((prefix, _)) => assert!(e.message.starts_with(prefix), "{filter}: {}", e.message),
            None => assert_eq!(e.message, message, "{filter}"),
        }
        rows += 1;
    }
    assert!(rows >= 10);
}
