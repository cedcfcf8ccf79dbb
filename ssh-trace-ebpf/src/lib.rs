#![no_std]
// Exists so ssh-trace can name this package as a build dependency; the
// programs are in the `ssh-trace-probes` binary (main.rs).
