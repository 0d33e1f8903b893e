use concurrent_futures::*;
use std::time::Duration;

#[test]
fn smoke() {
    let ex = ThreadPoolExecutor::new(2).unwrap();
    let f = ex.submit(|x: u64| x * 2, 21).unwrap();
    assert_eq!(f.result(None), Ok(&42));
    println!("{f}");
    let out: Vec<_> = ex.map(|x: u64| x + 1, 0..10).map(Result::unwrap).collect();
    assert_eq!(out, (1..11).collect::<Vec<_>>());
    let p = ex.submit(|_: ()| -> u8 { panic!("boom") }, ()).unwrap();
    println!("{:?} {p}", p.result(None));
    let fs: Vec<_> = (0..100u64).map(|i| ex.submit(move |_: ()| i, ()).unwrap()).collect();
    let n = as_completed(&fs, None).count();
    assert_eq!(n, 100);
    let w = wait(&fs, Some(Duration::from_secs(1)), ReturnWhen::AllCompleted);
    assert_eq!(w.done.len(), 100);
    let t0 = std::time::Instant::now();
    let fs: Vec<_> = (0..1_000_000u64).map(|i| ex.submit(move |_: ()| i, ()).unwrap()).collect();
    for f in &fs { f.result(None).unwrap(); }
    println!("1M: {:?} threads {}", t0.elapsed(), ex.num_threads());
}
