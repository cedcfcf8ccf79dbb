// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
fn main() -> std::process::ExitCode {
    match ssh_trace::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssh-trace: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
