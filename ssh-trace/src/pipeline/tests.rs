//! Pipeline tests (below).
