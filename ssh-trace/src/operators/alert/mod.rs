//! Alerts: rules over the event stream (rules.rs), their configuration
//! (config.rs), state kept across restarts (state.rs) and the actions they
//! trigger (actions.rs). Each alert is itself an event (`alert.*`, its
//! types in event/alert.rs).
pub mod actions;
pub mod config;
pub mod guesses;
pub mod rules;
pub mod state;
#[cfg(test)]
pub(crate) mod tests;
