//! The receive path for kernels without provided-buffer rings: the same
//! traffic as the main tests (pipelines, partial frames, a value larger
//! than one receive buffer, many clients) with `SLUICE_PLAIN_RECV` set, so
//! every shard uses plain single-shot receives. A separate test binary, so
//! the environment variable reaches only the servers started here.
mod common;

use common::{Reply, Server};

#[test]
fn plain_receives_serve_the_same_traffic() {
    // This binary runs only this test: no other thread reads the environment.
    std::env::set_var("SLUICE_PLAIN_RECV", "1");
    for threads in [1, 2] {
        let server = Server::sluice(threads, &[]);
        assert!(
            server.log().contains("using plain receives"),
            "{}",
            server.log()
        );
        let mut c = server.client();
        let mut pipeline = Vec::new();
        for i in 0..200 {
            pipeline.extend_from_slice(
                format!("*3\r\n$3\r\nSET\r\n$4\r\nk{i:03}\r\n$3\r\nv{i:02}\r\n").as_bytes(),
            );
        }
        c.send_raw(&pipeline).unwrap();
        for _ in 0..200 {
            assert_eq!(c.read_reply(), Reply::ok());
        }
        for byte in b"*2\r\n$3\r\nGET\r\n$4\r\nk007\r\n" {
            c.send_raw(&[*byte]).unwrap();
        }
        assert_eq!(c.read_reply(), Reply::bulk("v07"));
        let big = vec![b'x'; 1 << 20];
        assert_eq!(c.cmd(&[b"SET", b"big", &big]), Reply::ok());
        assert_eq!(c.cmd(&[b"GET", b"big"]), Reply::bulk(&big));
        let mut others: Vec<_> = (0..8).map(|_| server.client()).collect();
        for (i, o) in others.iter_mut().enumerate() {
            assert_eq!(
                o.cmd_str(&["GET", &format!("k{i:03}")]),
                Reply::bulk(format!("v{i:02}"))
            );
        }
        assert_eq!(c.q("DBSIZE"), Reply::Int(201));
    }
}
