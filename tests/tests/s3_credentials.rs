//! Rejected S3 credentials: a second moto server, started here with IAM checks on
//! (`INITIAL_NO_AUTH_ACTION_COUNT=0`, so it knows no access key), must make `sluice run`
//! stop at start with one `error:` line that says the credentials were rejected.

use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sluice_tests::{expect_clean_failure, python, serial, spawn_logged, work_dir};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[test]
fn rejected_s3_credentials_fail_with_one_clear_line() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "s3_bad_credentials")?;
    let moto = python()?.with_file_name("moto_server");
    let port = free_port()?;
    let mut cmd = Command::new(&moto);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
    let _server = Server(
        spawn_logged(cmd, &dir.join("moto.log"))
            .with_context(|| format!("starting {}", moto.display()))?,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("moto with IAM checks did not listen on {port} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let job = sluice_tests::tests_dir()
        .join("..")
        .join("config")
        .join("user-activity.yaml");
    let mut cmd = Command::new(sluice_tests::sluice_bin()?);
    cmd.arg("run")
        .arg(job)
        .args(["--set", "output.dir=s3://any-bucket/job"])
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIANOTAREALKEY00000")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret");
    expect_clean_failure(
        "rejected S3 credentials",
        cmd,
        &["InvalidAccessKeyId", "credentials were rejected"],
    )
}
