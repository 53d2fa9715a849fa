//! When a failed delivery is tried again: a schedule of delays after each failed attempt
//! (Standard Webhooks' by default), with jitter so that the events of one outage do not
//! all come back in the same second, and the receiver's own `Retry-After` on 429 and 503.

use std::time::{Duration, SystemTime};

/// Standard Webhooks' schedule: the delays after the 1st, 2nd, … failed attempt. An
/// event's last attempt comes 10 h after the 7th retry, about 28 h after the first.
pub const STANDARD_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The longest `Retry-After` honoured: a receiver asking for more gets this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Reads `--retry-schedule`: delays such as `200ms,1s,5m,2h`, through `humantime`.
pub fn parse_schedule(text: &str) -> anyhow::Result<Vec<Duration>> {
    let schedule = text
        .split(',')
        .map(|step| {
            humantime::parse_duration(step.trim()).map_err(|e| {
                anyhow::anyhow!(
                    "{:?} is not a delay such as 500ms, 5s, 5m or 2h: {e}",
                    step.trim()
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(schedule)
}

/// After `made` failed attempts: the delay before the next, or `None` when that was
/// the last (the event is dead-lettered). `retry_after`, the receiver's own (429,
/// 503), replaces the schedule's delay.
pub fn next_attempt(
    schedule: &[Duration],
    made: u32,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let step = *schedule.get(made.checked_sub(1)? as usize)?;
    Some(match retry_after {
        Some(asked) => asked.min(MAX_RETRY_AFTER),
        // Up to 10 % either way.
        None => step.mul_f64(0.9 + fastrand::f64() * 0.2),
    })
}

/// A `Retry-After` value: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_end() {
        let schedule = parse_schedule("200ms, 1s,5m,2h").unwrap();
        assert_eq!(
            schedule,
            [
                Duration::from_millis(200),
                Duration::from_secs(1),
                Duration::from_secs(300),
                Duration::from_secs(7200)
            ]
        );
        assert!(parse_schedule("5x").is_err());
        assert!(parse_schedule("").is_err());
        for _ in 0..100 {
            let d = next_attempt(&schedule, 1, None).unwrap();
            assert!(
                d >= Duration::from_millis(180) && d <= Duration::from_millis(220),
                "{d:?}"
            );
        }
        assert!(next_attempt(&schedule, 4, None).is_some());
        assert_eq!(
            next_attempt(&schedule, 5, None),
            None,
            "four retries, then dead"
        );
        assert_eq!(next_attempt(&schedule, 0, None), None);
        assert_eq!(
            next_attempt(&schedule, 1, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            next_attempt(&schedule, 1, Some(Duration::from_secs(10 << 20))),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            next_attempt(&schedule, 5, Some(Duration::from_secs(1))),
            None,
            "Retry-After does not add attempts"
        );
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
