//! The pipeline thread's CPU priority. Analysing messages must never slow taking them
//! in: on a machine short of CPU, the kernel runs the threads that acknowledge webhooks
//! and write to sockets first, and the pipeline catches up when they are idle.

/// Gives the calling thread the nice value `nice` (Linux: per thread). A failure is
/// logged; the pipeline then runs at its normal priority.
#[cfg(target_os = "linux")]
pub fn lower_this_thread(nice: i32) {
    if nice == 0 {
        return;
    }
    let thread = rustix::thread::gettid();
    if let Err(err) = rustix::process::setpriority_process(Some(thread), nice) {
        tracing::warn!(%err, nice, "cannot lower the pipeline thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_this_thread(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_thread_gets_the_nice_value_and_other_threads_keep_theirs() {
        let before = rustix::process::getpriority_process(None).unwrap();
        // Raising a nice value is always allowed; 19 is the lowest priority.
        let seen = std::thread::spawn(|| {
            lower_this_thread(19);
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(seen, 19);
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
    }
}
