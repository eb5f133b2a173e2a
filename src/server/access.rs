//! Who is calling, and what may it do (明确个人信息查询使用权限).
//!
//! On a Unix socket the caller is its peer credentials (uid, gid, pid, from
//! the kernel, `SO_PEERCRED`); on the TCP listener it is the bearer token of
//! each request. The `[[client]]` entries map callers to a client name and
//! permissions: which matters it may check and whether it may query natural
//! persons. The first entry (in file order) whose every given key matches
//! wins: `uid` and `gid` (if both are given, both must match; `gid` is the
//! peer's primary gid) for Unix sockets, `token` for TCP. With no
//! `[[client]]` at all, every caller has full rights and the socket's file
//! mode is the only gate.

use super::config::ClientConfig;
use std::collections::HashSet;
use std::sync::Arc;

/// A resolved client: its name and permissions.
#[derive(Debug)]
pub struct Client {
    pub name: String,
    /// `None` = every matter.
    matters: Option<HashSet<String>>,
    pub persons: bool,
    uid: Option<u32>,
    gid: Option<u32>,
    token: Option<Vec<u8>>,
}

impl Client {
    fn new(c: &ClientConfig) -> Client {
        let all = c.matters.iter().any(|m| m == "*");
        Client {
            name: c.name.clone(),
            matters: (!all).then(|| c.matters.iter().cloned().collect()),
            persons: c.persons,
            uid: c.uid,
            gid: c.gid,
            token: c.token.as_ref().map(|t| t.as_bytes().to_vec()),
        }
    }

    /// May the client check `matter` (`None`: lists only, always allowed)?
    pub fn may_check(&self, matter: Option<&str>) -> bool {
        match (matter, &self.matters) {
            (None, _) | (_, None) => true,
            (Some(m), Some(set)) => set.contains(m),
        }
    }

    /// The permissions of everyone when no client is configured.
    fn everyone() -> Client {
        Client {
            name: String::new(),
            matters: None,
            persons: true,
            uid: None,
            gid: None,
            token: None,
        }
    }
}

/// The peer of a connection as the kernel or the request tells it.
#[derive(Clone, Debug, Default)]
pub struct Peer {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pid: Option<i32>,
}

/// The caller of one request: who it is and what it may do.
#[derive(Clone, Debug)]
pub struct Caller {
    pub peer: Peer,
    /// `None`: an unknown caller, refused.
    pub client: Option<Arc<Client>>,
}

impl Caller {
    /// The configured client name (`None` when no client is configured or
    /// the caller is unknown).
    pub fn client_name(&self) -> Option<&str> {
        self.client
            .as_deref()
            .map(|c| c.name.as_str())
            .filter(|n| !n.is_empty())
    }
}

/// The client table.
#[derive(Debug)]
pub struct Access {
    clients: Vec<Arc<Client>>,
    /// Set when no `[[client]]` is configured.
    open: Option<Arc<Client>>,
}

impl Access {
    pub fn new(clients: &[ClientConfig]) -> Access {
        Access {
            clients: clients.iter().map(|c| Arc::new(Client::new(c))).collect(),
            open: clients.is_empty().then(|| Arc::new(Client::everyone())),
        }
    }

    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Identifies a Unix-socket peer.
    pub fn unix(&self, peer: Peer) -> Caller {
        if let Some(open) = &self.open {
            return Caller {
                peer,
                client: Some(open.clone()),
            };
        }
        let client = self
            .clients
            .iter()
            .find(|c| {
                c.token.is_none()
                    && (c.uid.is_some() || c.gid.is_some())
                    && c.uid.is_none_or(|u| peer.uid == Some(u))
                    && c.gid.is_none_or(|g| peer.gid == Some(g))
            })
            .cloned();
        Caller { peer, client }
    }

    /// Identifies a TCP caller by the `Authorization` header's value.
    pub fn tcp(&self, authorization: Option<&[u8]>) -> Caller {
        let peer = Peer::default();
        if let Some(open) = &self.open {
            return Caller {
                peer,
                client: Some(open.clone()),
            };
        }
        let token = authorization.and_then(|h| {
            let h = h.strip_prefix(b"Bearer ")?;
            Some(h.trim_ascii())
        });
        let mut found = None;
        if let Some(token) = token {
            // Compare with every token (no early exit), each in constant time.
            for c in &self.clients {
                if let Some(t) = &c.token {
                    if constant_time_eq(t, token) && found.is_none() {
                        found = Some(c.clone());
                    }
                }
            }
        }
        Caller {
            peer,
            client: found,
        }
    }
}

/// Equality of a secret `a` (a configured token) and a presented `b` whose
/// time depends only on the length of `b`: not on where the bytes differ,
/// nor on whether the lengths match (the secret's length is not revealed).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for (i, &y) in b.iter().enumerate() {
        let x = a.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(
        name: &str,
        uid: Option<u32>,
        gid: Option<u32>,
        token: Option<&str>,
        matters: &[&str],
    ) -> ClientConfig {
        ClientConfig {
            name: name.into(),
            uid,
            gid,
            token: token.map(str::to_string),
            matters: matters.iter().map(|s| s.to_string()).collect(),
            persons: false,
        }
    }

    fn peer(uid: u32, gid: u32) -> Peer {
        Peer {
            uid: Some(uid),
            gid: Some(gid),
            pid: Some(1),
        }
    }

    #[test]
    fn no_clients_means_full_rights() {
        let a = Access::new(&[]);
        let c = a.unix(peer(5, 5));
        let cl = c.client.unwrap();
        assert!(cl.persons && cl.may_check(Some("anything")));
        assert!(a.tcp(None).client.is_some());
    }

    #[test]
    fn matching_by_uid_gid_and_token() {
        let a = Access::new(&[
            client("both", Some(1), Some(2), None, &["m1"]),
            client("uid", Some(1), None, None, &["*"]),
            client("gid", None, Some(7), None, &[]),
            client("tcp", None, None, Some("0123456789abcdef"), &["m2"]),
        ]);
        assert_eq!(a.unix(peer(1, 2)).client_name(), Some("both"));
        assert_eq!(a.unix(peer(1, 3)).client_name(), Some("uid"));
        assert_eq!(a.unix(peer(9, 7)).client_name(), Some("gid"));
        assert!(a.unix(peer(9, 9)).client.is_none());
        assert_eq!(
            a.tcp(Some(b"Bearer 0123456789abcdef")).client_name(),
            Some("tcp")
        );
        assert!(a.tcp(Some(b"Bearer 0123456789abcdeX")).client.is_none());
        assert!(a.tcp(Some(b"0123456789abcdef")).client.is_none());
        assert!(a.tcp(None).client.is_none());
        let both = a.unix(peer(1, 2)).client.unwrap();
        assert!(both.may_check(Some("m1")) && !both.may_check(Some("m2")) && both.may_check(None));
        let gid = a.unix(peer(9, 7)).client.unwrap();
        assert!(!gid.may_check(Some("m1")) && gid.may_check(None));
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"ab", b"ab\0"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
