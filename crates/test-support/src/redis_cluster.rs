//! A real Redis Cluster owned by one test: three primaries with a replica
//! each (`redis-server --cluster-enabled yes` joined by
//! `redis-cli --cluster create`), on free loopback ports, in a temporary
//! directory, killed when the value is dropped.
//!
//! Each test gets its own cluster because nextest runs every test in its own
//! process: a shared cluster would outlive its owner or race with it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PRIMARIES: usize = 3;
/// Short, so a killed primary's replica is promoted within ~2 s, yet long
/// enough that a loaded 2-core machine does not see false failures.
const NODE_TIMEOUT_MS: u64 = 1_000;

/// One node: its client port, its cluster bus port and the process.
struct Node {
    port: u16,
    child: Option<Child>,
}

pub struct RedisCluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

/// A node's role and the slots it serves, from `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub id: String,
    pub port: u16,
    pub primary: bool,
    pub failed: bool,
    /// For a replica: the id of its primary.
    pub primary_id: Option<String>,
    pub slots: Vec<(u16, u16)>,
}

/// Whether `redis-server` and `redis-cli` can be run here.
pub fn redis_server_available() -> bool {
    ["redis-server", "redis-cli"].iter().all(|bin| {
        Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// True, after a loud message on stderr, where a cluster cannot be started
/// (no `redis-server`): the caller skips its test.
pub fn cluster_skipped() -> bool {
    if redis_server_available() {
        return false;
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: redis-server/redis-cli not on PATH, the Redis Cluster \
         test did not run (apt-get install redis-server) !!!!!!!!\n"
    );
    true
}

/// How many times a cluster start is tried on fresh ports.
const START_ATTEMPTS: u32 = 3;

/// A port the OS just had free on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RedisCluster {
    /// Starts the cluster and waits until every node reports `cluster_state:ok`
    /// and every replica is in sync. `None`, after a loud message, only where
    /// `redis-server` is not installed (Debian package `redis-server`).
    pub async fn start() -> Option<RedisCluster> {
        if cluster_skipped() {
            return None;
        }
        // Ports are picked free and then bound by redis-server: in between,
        // another test's process can take one. Such a start is tried again
        // on other ports rather than failing the test.
        let mut attempt = 1;
        loop {
            match Self::try_start().await {
                Ok(cluster) => return Some(cluster),
                Err(e) => {
                    assert!(
                        attempt < START_ATTEMPTS,
                        "the Redis Cluster did not start: {e}"
                    );
                    eprintln!("Redis Cluster start {attempt} failed ({e}); again on other ports");
                    attempt += 1;
                }
            }
        }
    }

    async fn try_start() -> Result<RedisCluster, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut nodes = Vec::new();
        for _ in 0..PRIMARIES * 2 {
            let port = free_port();
            let bus = free_port();
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            nodes.push(Node {
                port,
                child: Some(child),
            });
        }
        let mut cluster = RedisCluster { nodes, _dir: dir };
        for node in &cluster.nodes {
            wait_listening(node.port).await?;
        }
        // A node that lost its port exits; its port may answer for someone else.
        for node in &mut cluster.nodes {
            if let Some(child) = node.child.as_mut()
                && !matches!(child.try_wait(), Ok(None))
            {
                return Err(format!(
                    "redis-server on {} exited (port taken?)",
                    node.port
                ));
            }
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        cluster.wait_healthy(Duration::from_secs(30)).await;
        Ok(cluster)
    }

    /// The URL the router takes in `REDIS_URL` (every node listed as a seed).
    pub fn url(&self) -> String {
        let mut ports = self.live_ports().into_iter();
        let first = ports.next().expect("a live node");
        let seeds: Vec<String> = ports.map(|p| format!("node=127.0.0.1:{p}")).collect();
        format!("redis-cluster://127.0.0.1:{first}?{}", seeds.join("&"))
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// The topology as a live node sees it.
    pub fn topology(&self) -> Vec<NodeView> {
        let port = *self.live_ports().first().expect("a live node");
        parse_nodes(&cli(port, &["CLUSTER", "NODES"]))
    }

    /// The client port of the primary serving `key` (hash tags honoured).
    pub fn primary_for_key(&self, key: &str) -> u16 {
        let port = *self.live_ports().first().expect("a live node");
        let slot: u16 = cli(port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot number");
        self.topology()
            .into_iter()
            .find(|n| {
                n.primary && !n.failed && n.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
            })
            .map(|n| n.port)
            .expect("a primary serving the slot")
    }

    /// The client port of `primary`'s replica.
    pub fn replica_of(&self, primary: u16) -> u16 {
        let topology = self.topology();
        let id = &topology
            .iter()
            .find(|n| n.port == primary)
            .expect("the primary")
            .id;
        topology
            .iter()
            .find(|n| n.primary_id.as_ref() == Some(id))
            .map(|n| n.port)
            .expect("a replica")
    }

    /// SIGKILL to the node on `port`: no goodbye to its clients or peers.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the node on `port` is a primary serving slots and the
    /// cluster is `ok` again (its failed peer's slots all covered).
    pub async fn wait_promoted(&self, port: u16, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let promoted = cli(port, &["ROLE"]).lines().next() == Some("master");
            if promoted && self.all_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {port} was not promoted within {within:?}: {:?}",
                self.topology()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn all_ok(&self) -> bool {
        self.live_ports()
            .into_iter()
            .all(|p| cli(p, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    }

    async fn wait_healthy(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let replicas_synced =
                self.topology().iter().filter(|n| !n.primary).all(|n| {
                    cli(n.port, &["INFO", "replication"]).contains("master_link_status:up")
                });
            if replicas_synced && self.all_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the Redis Cluster did not become healthy within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

async fn wait_listening(port: u16) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("redis-server on {port} did not start"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// One command through redis-cli (output as text; empty when the node is gone).
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn parse_nodes(text: &str) -> Vec<NodeView> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return None;
            }
            let port = fields[1].split(['@', ':']).nth(1)?.parse().ok()?;
            let flags = fields[2];
            let slots = fields[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|x| (x, x)),
                })
                .collect();
            Some(NodeView {
                id: fields[0].to_owned(),
                port,
                primary: flags.contains("master"),
                failed: flags.contains("fail"),
                primary_id: (fields[3] != "-").then(|| fields[3].to_owned()),
                slots,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes() {
        let text = "\
9986 127.0.0.1:7105@17105 slave 0345 0 1 2 connected
1570 127.0.0.1:7101@17101 myself,master - 0 1 1 connected 0-5460
0345 127.0.0.1:7102@17102 master,fail - 0 1 2 connected 5461-10922 [5462->-abc]
";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].port, 7105);
        assert!(!nodes[0].primary);
        assert_eq!(nodes[0].primary_id.as_deref(), Some("0345"));
        assert_eq!(nodes[1].slots, vec![(0, 5460)]);
        assert!(nodes[1].primary && !nodes[1].failed);
        assert!(nodes[2].failed);
        assert_eq!(nodes[2].slots, vec![(5461, 10922)]);
    }
}
