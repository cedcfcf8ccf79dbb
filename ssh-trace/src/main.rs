//! ssh-trace: kernel programs → ring buffer reader → decode → session model
//! → formats. The CLI only wires these together.
mod agent;
mod cli;
mod decode;
mod event;
mod format;
mod host;
mod privileges;
mod probes;
mod reader;
mod report;
mod session;
mod text;

fn main() -> std::process::ExitCode {
    match cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssh-trace: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
