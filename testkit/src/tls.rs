//! Real TLS for tests: a certificate authority and a server certificate made in the test
//! ([`TestPki`], rcgen), a TLS-terminating TCP proxy in front of a plaintext server such as
//! anvil ([`TlsProxy`]: `https://` and `wss://` both work, it forwards bytes), a throwaway
//! PostgreSQL cluster that only accepts TLS ([`TlsPostgres`]) and a Redis that only speaks TLS
//! ([`TlsRedis`]).
//!
//! The server certificate names `localhost` and `127.0.0.1`; the URLs these fixtures hand out
//! use `localhost`, so a client checks a DNS name against it. Trust the CA through
//! [`TestPki::tls_settings`] (what `TLS_CA_FILE` gives a service) or [`TestPki::ca_file`].
//!
//! PostgreSQL refuses to run as root: when the tests run as root (CI does), `initdb` and
//! `pg_ctl` run as the `postgres` OS user through `runuser`, in a directory given to it.

use std::{
    net::SocketAddr,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use posmul_core::tls::{Environment, TlsSettings};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

/// A CA and a server certificate for `localhost` / `127.0.0.1` signed by it, written as PEM
/// files into a temporary directory (removed when dropped).
pub struct TestPki {
    dir: PathBuf,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl TestPki {
    /// Generates the CA and the server certificate.
    pub fn new() -> TestPki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "PosMul test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");

        let key = KeyPair::generate().expect("server key");
        let mut server =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server
            .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
            .expect("server certificate");

        let dir = temp_dir("posmul-pki");
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write ca.pem");
        std::fs::write(dir.join("server.pem"), server_cert.pem()).expect("write server.pem");
        let key_file = dir.join("server.key");
        std::fs::write(&key_file, key.serialize_pem()).expect("write server.key");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod server.key");
        TestPki {
            dir,
            server_cert: server_cert.der().clone(),
            server_key: key.serialize_der(),
        }
    }

    /// The CA certificate (PEM): what `TLS_CA_FILE` or `sslrootcert=` names.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server certificate (PEM).
    pub fn cert_file(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server's private key (PEM, PKCS #8, mode 0600).
    pub fn key_file(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// What a service reads from `TLS_CA_FILE=<ca_file>` with `POSMUL_ENV=prod`.
    pub fn tls_settings(&self) -> TlsSettings {
        TlsSettings::new(Environment::Prod, Some(&self.ca_file())).expect("the test CA loads")
    }

    /// A rustls server configuration presenting the server certificate (no ALPN: HTTP/1.1 and
    /// WebSocket upgrades pass).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![self.server_cert.clone()], key)
            .expect("server TLS configuration");
        Arc::new(config)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS-terminating TCP proxy on `127.0.0.1:<free port>` in front of a plaintext `upstream`:
/// each accepted connection completes a TLS handshake with the test certificate, then bytes
/// flow both ways unchanged, so `https://` requests and `wss://` upgrades both reach the
/// upstream. Stops (with every open connection) when dropped.
pub struct TlsProxy {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TlsProxy {
    /// Starts the proxy; must run inside a Tokio runtime.
    pub async fn start(pki: &TestPki, upstream: SocketAddr) -> TlsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let acceptor = TlsAcceptor::from(pki.server_config());
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        let task = tokio::spawn(async move {
            // Owned by this task: aborting it drops the set, which aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let counted = counted.clone();
                connections.spawn(async move {
                    // A client that fails the handshake (it does not trust the CA) just leaves.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        TlsProxy {
            addr,
            handshakes,
            task,
        }
    }

    /// `https://localhost:<port>`.
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// `wss://localhost:<port>`.
    pub fn wss_url(&self) -> String {
        format!("wss://localhost:{}", self.addr.port())
    }

    /// TLS handshakes completed so far: proof that a client came through TLS.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A throwaway PostgreSQL cluster on `127.0.0.1:<free port>` with `ssl=on` and the test
/// certificate, whose `pg_hba.conf` admits TCP clients over TLS only (`hostssl`, trust):
/// a plaintext connection is refused by the server itself. Stopped and deleted when dropped.
pub struct TlsPostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl TlsPostgres {
    /// `initdb` and `pg_ctl start` from the newest `/usr/lib/postgresql/*/bin` (or `PATH`).
    pub fn start(pki: &TestPki) -> TlsPostgres {
        let bin = postgres_bin();
        let dir = temp_dir("posmul-pg");
        let data = dir.join("data");
        std::fs::copy(pki.cert_file(), dir.join("server.pem")).expect("copy the certificate");
        std::fs::copy(pki.key_file(), dir.join("server.key")).expect("copy the key");
        std::fs::set_permissions(
            dir.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod the key");
        if is_root() {
            // PostgreSQL runs as `postgres`: it must own its directory and its key.
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&dir)
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown -R postgres {}", dir.display());
        }
        let pg = TlsPostgres {
            dir: dir.clone(),
            port: free_port(),
            bin,
        };
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .expect("write pg_hba.conf");
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={dir} \
             -c ssl=on -c ssl_cert_file={dir}/server.pem -c ssl_key_file={dir}/server.key \
             -c fsync=off -c shared_buffers=16MB -c max_connections=40",
            port = pg.port,
            dir = dir.display(),
        );
        pg.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                dir.join("postgres.log").as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        );
        pg
    }

    /// Runs one of the cluster's programs, as `postgres` when this process is root.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let path = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{} does not run: {e}", path.display()));
        let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
        assert!(
            out.status.success(),
            "{program} failed: {}\n{}\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@localhost:<port>/<database>` with no `sslmode` (append one).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@localhost:{}/{database}", self.port)
    }

    /// Creates `database` (over the cluster's Unix socket).
    pub fn create_database(&self, database: &str) {
        self.run(
            "createdb",
            &[
                "-h".as_ref(),
                self.dir.as_os_str(),
                "-p".as_ref(),
                self.port.to_string().as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                database.as_ref(),
            ],
        );
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let path = self.bin.join("pg_ctl");
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let _ = cmd
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `redis-server` speaking TLS only (`--port 0`, `--tls-port <free port>` on 127.0.0.1) with
/// the test certificate; clients need no certificate of their own. Killed when dropped.
pub struct TlsRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl TlsRedis {
    /// Starts `redis-server` from `PATH` and waits until it accepts connections.
    pub fn start(pki: &TestPki) -> TlsRedis {
        let port = free_port();
        let dir = temp_dir("posmul-redis");
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--tls-port")
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(pki.cert_file())
            .arg("--tls-key-file")
            .arg(pki.key_file())
            .arg("--tls-ca-cert-file")
            .arg(pki.ca_file())
            .args(["--tls-auth-clients", "no", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        let mut redis = TlsRedis { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = redis.child.try_wait() {
                panic!("redis-server exited at start ({status}); is it built with TLS?");
            }
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    /// `rediss://localhost:<port>`.
    pub fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }

    /// The TLS port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`, else the directory of
/// `initdb` on `PATH`.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|p| p.join("initdb").exists()))
        .expect("PostgreSQL's initdb is installed (apt-get install postgresql)")
}

/// Whether this process runs as root (the owner of `/proc/self`).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A new empty directory under the system's temporary directory.
fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
