"""Usage rollups: the registry of rollup tables, writing them, and reading views from them.

registry   one entry per rollup table (key from its primary key, grain, dimensions,
           measures, how a batch is folded in)
store      raw events + every rollup of the registry, in the caller's transaction
query      UsageFilter (the view), total_cost_micros (billing's usage cost)
picker     which rollup answers a query (the narrowest that keeps its dimensions)
where      a view's WHERE on a rollup
aggregate  sums over a view, grouped, computed in SQL
monthly    per-member sums and active days over long periods: the month plan
"""
