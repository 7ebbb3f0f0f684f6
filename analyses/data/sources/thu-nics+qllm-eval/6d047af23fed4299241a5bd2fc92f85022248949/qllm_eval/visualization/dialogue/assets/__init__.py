from . import mt_bench_w_only as w_only
from . import mt_bench_w_a as wa
from . import mt_bench_kv_cache as kv