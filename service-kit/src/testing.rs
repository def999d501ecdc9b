//! Helpers for integration tests (feature `testing`): the addresses of the real services come
//! from the environment that `deploy/dev.sh` writes, and a missing variable fails the test
//! loudly. Tests never skip.

/// The value of a required environment variable.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set. These tests need the real stack: run `deploy/dev.sh test`, or \
             `deploy/dev.sh stack && source <(deploy/dev.sh env)` before `cargo test`."
        )
    })
}

/// A name unique to this process and moment (throw-away databases, topics, sources).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{prefix}_{}_{}_{}", std::process::id(), nanos % 1_000_000_000, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Runs `cmd` with stdin closed and its output captured, waiting at most `limit` for it to exit;
/// a command still running then is killed and fails the test (a binary that should stop on an
/// error must not hang the suite).
pub fn output_within(cmd: &mut std::process::Command, limit: std::time::Duration) -> std::process::Output {
    use std::io::Read as _;
    use std::process::Stdio;
    let what = format!("{:?} {:?}", cmd.get_program(), cmd.get_args().collect::<Vec<_>>());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    // Both pipes are drained on their own threads, so that a chatty command never blocks on one.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("wait for {what}: {e}")) {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A throw-away single-node Apache Kafka broker (KRaft), for tests that stop and restart a
/// broker. It runs the same jars as the local stack (`RTCX_KAFKA_LIBS`, written by
/// `deploy/dev.sh`) on free ports with its own data directory.
pub struct KafkaProcess {
    dir: std::path::PathBuf,
    props: std::path::PathBuf,
    libs: String,
    port: u16,
    child: Option<std::process::Child>,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

impl KafkaProcess {
    /// Formats storage and starts the broker; returns once it accepts connections.
    pub fn start() -> Self {
        let libs = env("RTCX_KAFKA_LIBS");
        let dir = std::env::temp_dir().join(unique("rtcx-kafka"));
        std::fs::create_dir_all(dir.join("data")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let (port, controller) = (free_port(), free_port());
        let props = dir.join("server.properties");
        let text = format!(
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.bootstrap.servers=127.0.0.1:{controller}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\nlog.dirs={}\n\
             auto.create.topics.enable=false\noffsets.topic.replication.factor=1\n\
             transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
             share.coordinator.state.topic.replication.factor=1\nshare.coordinator.state.topic.min.isr=1\n\
             group.initial.rebalance.delay.ms=0\n",
            dir.join("data").display()
        );
        std::fs::write(&props, text).unwrap_or_else(|e| panic!("write server.properties: {e}"));
        // Kafka cluster ids are URL-safe base64 of 16 random bytes; one starting with '-' would
        // be read as a command-line option (Kafka's own generator avoids those too).
        let cluster_id = loop {
            use base64::Engine as _;
            let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
            if !id.starts_with('-') {
                break id;
            }
        };
        let output = std::process::Command::new("java")
            .arg("-cp")
            .arg(format!("{libs}/*"))
            .args(["kafka.tools.StorageTool", "format", "--standalone", "-t", &cluster_id, "-c"])
            .arg(&props)
            .output()
            .unwrap_or_else(|e| panic!("running the Kafka storage tool: {e}"));
        assert!(
            output.status.success(),
            "formatting Kafka storage failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut k = Self { dir, props, libs, port, child: None };
        k.restart();
        k
    }

    /// `127.0.0.1:PORT` of the broker.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the broker again on the same ports and data; returns once it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        // The broker logs to server.log (deploy/kafka/log4j2.xml); stdout/stderr go here.
        let _ = std::fs::remove_file(self.dir.join("server.log"));
        let log = std::fs::File::create(self.dir.join("broker.log")).unwrap_or_else(|e| panic!("log file: {e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let child = std::process::Command::new("java")
            .args(["-Xms256m", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp"])
            .arg(format!("{}/*", self.libs))
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/kafka/log4j2.xml")
            ))
            .arg(format!("-Dkafka.logs.dir={}", self.dir.display()))
            .arg("kafka.Kafka")
            .arg(&self.props)
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting Kafka: {e}"));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        loop {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            if log.contains("Kafka Server started") && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "test Kafka did not start; log:\n{log}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Drop for KafkaProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A throw-away ClickHouse server (the chdb-core engine, as in the local stack), for tests
/// that stop and restart ClickHouse. It runs `deploy/clickhouse/server.py` with the stack's
/// Python (`RTCX_CLICKHOUSE_PYTHON`, written by `deploy/dev.sh`) on free ports with its own
/// data directory, which survives restarts.
pub struct ClickHouseProcess {
    dir: std::path::PathBuf,
    python: String,
    http_port: u16,
    tcp_port: u16,
    child: Option<std::process::Child>,
}

impl ClickHouseProcess {
    /// Starts the server; returns once it answers HTTP queries.
    pub fn start() -> Self {
        let python = env("RTCX_CLICKHOUSE_PYTHON");
        let dir = std::env::temp_dir().join(unique("rtcx-clickhouse"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut c = Self { dir, python, http_port: free_port(), tcp_port: free_port(), child: None };
        c.restart();
        c
    }

    /// `http://127.0.0.1:PORT` of the server.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Kills the server at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn answers(&self) -> bool {
        use std::io::{Read as _, Write as _};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.http_port)) else { return false };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        let req = "GET /?query=SELECT%201 HTTP/1.0\r\nHost: localhost\r\n\r\n";
        let mut out = String::new();
        s.write_all(req.as_bytes()).is_ok() && s.read_to_string(&mut out).is_ok() && out.starts_with("HTTP/1.0 200")
    }

    /// Starts the server again on the same ports and data; returns once it answers.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::File::create(self.dir.join("server.log")).unwrap_or_else(|e| panic!("log file: {e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let child = std::process::Command::new(&self.python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/clickhouse/server.py"))
            .arg("--data")
            .arg(self.dir.join("data"))
            .args(["--http-port", &self.http_port.to_string(), "--tcp-port", &self.tcp_port.to_string()])
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting ClickHouse: {e}"));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        while !self.answers() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            assert!(std::time::Instant::now() < deadline, "test ClickHouse did not start; log:\n{log}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

impl Drop for ClickHouseProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Inserts synthetic feedback into the `feedback` table of `ch`: `per_window` events in each
/// of `windows` consecutive 5-minute windows from Unix second `from`, on `channel`, of which
/// `negatives_in_five` in five are negative (score −0.7) and the rest positive (0.6). The
/// rollups' materialized views see them like the processors' inserts.
#[cfg(feature = "clickhouse")]
pub async fn insert_windows(
    ch: &clickhouse::Client,
    from: i64,
    windows: i64,
    per_window: i64,
    channel: &str,
    negatives_in_five: i64,
) {
    ch.query(&format!(
        "INSERT INTO feedback (id, occurred_at, received_at, processed_at, channel, text, sentiment_label, sentiment_score, model_name)
         SELECT generateUUIDv4(),
                toDateTime64({from} + intDiv(number, {per_window}) * 300 + (number % {per_window}) * intDiv(300, {per_window}), 3, 'UTC') AS t,
                t, t, '{channel}', 'text',
                if(number % 5 < {negatives_in_five}, 'negative', 'positive'), if(number % 5 < {negatives_in_five}, -0.7, 0.6), 'rtcx'
         FROM numbers({})",
        windows * per_window
    ))
    .execute()
    .await
    .expect("insert feedback");
}
