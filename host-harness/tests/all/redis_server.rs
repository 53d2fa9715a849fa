//! A real `redis-server` for one test: its own free loopback port and temporary
//! directory, append-only with `appendfsync always` (every acknowledged write survives a
//! crash), killed when dropped. Never a system service, never shared between tests.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// With TLS only: the CA that signed its certificate (made by openssl here).
    ca: Option<std::path::PathBuf>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::started(false)
    }

    /// TLS only (`rediss://`), with a certificate for 127.0.0.1 from a CA made for it.
    pub fn start_tls() -> Self {
        Self::started(true)
    }

    fn started(tls: bool) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let ca = tls.then(|| make_certificates(dir.path()));
        let mut server = Self {
            child: None,
            port,
            dir,
            ca,
        };
        server.resume();
        server
    }

    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// The CA's PEM file (TLS only).
    pub fn ca(&self) -> &std::path::Path {
        self.ca.as_deref().expect("a TLS server")
    }

    /// Kills the server at once (SIGKILL): what it acknowledged is in its AOF.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (it replays its AOF).
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut command = Command::new("redis-server");
        match &self.ca {
            None => command.args(["--port", &self.port.to_string()]),
            Some(ca) => {
                let file = |name: &str| self.dir.path().join(name);
                command
                    .args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(file("server.crt"))
                    .arg("--tls-key-file")
                    .arg(file("server.key"))
                    .arg("--tls-ca-cert-file")
                    .arg(ca)
                    .args(["--tls-auth-clients", "no"])
            }
        };
        let child = command
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs Debian's redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let up = match &self.ca {
                None => self.command("PING").as_deref() == Some("+PONG"),
                Some(ca) => Command::new("redis-cli")
                    .args(["--tls", "-p", &self.port.to_string(), "--cacert"])
                    .arg(ca)
                    .arg("ping")
                    .output()
                    .is_ok_and(|o| o.stdout.starts_with(b"PONG")),
            };
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// One inline command; its first reply line.
    pub fn command(&self, command: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
        let mut reply = vec![0u8; 1 << 20];
        let n = stream.read(&mut reply).ok()?;
        let text = String::from_utf8_lossy(&reply[..n]).into_owned();
        Some(text.lines().next().unwrap_or_default().to_owned())
    }

    /// Everything the server keeps, as its AOF files hold it.
    pub fn dump(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in walk(self.dir.path()) {
            all.extend(std::fs::read(entry).unwrap_or_default());
        }
        all
    }
}

/// A CA and a server certificate for 127.0.0.1 in `dir`, made with openssl; the CA's
/// path.
fn make_certificates(dir: &std::path::Path) -> std::path::PathBuf {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=whatsapp-connector test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    dir.join("ca.crt")
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
