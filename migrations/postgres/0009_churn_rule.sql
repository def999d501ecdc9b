-- The CUSTOMER_CHURN_RISK rule (processors' rtcx_detect::churn): one customer with at least
-- `min_volume` (default 3) negative or detractor feedback within 7 days. Not a time-series
-- rule: its row enables or disables it and sets the threshold.
INSERT INTO alert_rules (name, detector, builtin, description) VALUES
    ('customer_churn', 'customer_churn', true, 'One customer with repeated negative feedback or detractor NPS answers within 7 days')
ON CONFLICT (name) DO NOTHING;
