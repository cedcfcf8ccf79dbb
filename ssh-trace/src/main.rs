fn main() -> std::process::ExitCode {
    match ssh_trace::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssh-trace: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
