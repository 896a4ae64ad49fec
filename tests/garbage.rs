//! Hostile input never takes the server down.
//!
//! 1. Many connections each send a seeded random stream: RESP fragments with
//!    wrong, negative, huge and non-numeric lengths, unbalanced inline
//!    quotes, random binary, NULs, unauthenticated-looking floods, and valid
//!    commands with absurd arguments mixed in.
//! 2. Each connection reads whatever comes back until the server answers or
//!    closes it (a protocol error closes, as in Redis).
//! 3. Afterwards the server must still be alive and serve a fresh client
//!    exactly (PING, a SET/GET round trip, DBSIZE agreeing with KEYS).
//!
//! The seed is printed; replay with SLUICE_SEED=<n>.
mod common;

use common::{Reply, Rng, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn fragment(rng: &mut Rng) -> Vec<u8> {
    let lengths = [
        "-1",
        "-5",
        "0",
        "99999999999999999999",
        "abc",
        "",
        "4294967296",
        "1",
        "+3",
        " 2",
    ];
    match rng.below(10) {
        0 => format!("*{}\r\n", rng.pick(&lengths)).into_bytes(),
        1 => format!("${}\r\n", rng.pick(&lengths)).into_bytes(),
        2 => b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab".to_vec(),
        3 => b"SET \"unbalanced\r\n".to_vec(),
        4 => b"SET 'a\\'b' \"\\x4g\\xff\"\r\n".to_vec(),
        5 => (0..rng.below(200)).map(|_| rng.below(256) as u8).collect(),
        6 => vec![0u8; rng.below(100) as usize],
        7 => {
            let n = rng.below(5);
            let mut cmd = format!("*{}\r\n", n + 1).into_bytes();
            let names = [
                "EXPIRE",
                "GETRANGE",
                "LCS",
                "SCAN",
                "SETRANGE",
                "INCRBYFLOAT",
            ];
            let name = rng.pick(&names);
            cmd.extend_from_slice(format!("${}\r\n{name}\r\n", name.len()).as_bytes());
            for _ in 0..n {
                let arg = rng
                    .pick(&[
                        "-9223372036854775808",
                        "9223372036854775807",
                        "nan",
                        "inf",
                        "",
                        "*",
                    ])
                    .to_string();
                cmd.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
            }
            cmd
        }
        8 => b"*2\r\n$4\r\nPING\r\n".to_vec(),
        _ => b"\r\n\n\r".to_vec(),
    }
}

#[test]
fn random_input_never_kills_the_server() {
    let mut rng = Rng::from_env();
    for threads in [1, 2] {
        let mut server = Server::sluice(threads, &[]);
        for _ in 0..60 {
            let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut data = Vec::new();
            for _ in 0..rng.below(30) + 1 {
                data.extend_from_slice(&fragment(&mut rng));
            }
            // The server may close mid-write after a protocol error.
            let _ = stream.write_all(&data);
            let mut sink = [0u8; 4096];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            server.assert_alive();
        }
        let mut c = server.client();
        assert_eq!(c.q("PING"), Reply::simple("PONG"));
        assert_eq!(c.q("SET real 1"), Reply::ok());
        assert_eq!(c.q("GET real"), Reply::bulk("1"));
        // Garbage may have created keys (SETRANGE "*" ...); the keyspace
        // must still be consistent.
        let dbsize = c.q("DBSIZE").as_int();
        assert_eq!(c.q("KEYS *").as_array().len() as i64, dbsize);
    }
}
