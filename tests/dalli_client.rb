# Ruby's dalli (Debian's ruby-dalli), which speaks only memcached's binary protocol, against the
# server on 127.0.0.1:ARGV[0]. Each check raises on a wrong answer; test_binary_clients.py runs it
# and expects "all checks passed" as its last line.
require "dalli"

def check(what, got, expected)
  raise "#{what}: expected #{expected.inspect}, got #{got.inspect}" unless got == expected
end

dc = Dalli::Client.new("127.0.0.1:#{ARGV[0]}", socket_timeout: 5, serializer: Marshal)
raw = {raw: true}

check "set", dc.set("k", "hello", 0, raw).is_a?(Integer), true
check "get", dc.get("k"), "hello"
check "get miss", dc.get("missing"), nil
check "add existing", dc.add("k", "x", 0, raw), false
check "add new", dc.add("a", "1", 0, raw).is_a?(Integer), true
dc.replace("missing", "x", 0, raw)
check "replace missing", dc.get("missing"), nil
check "replace", dc.replace("a", "2", 0, raw).is_a?(Integer), true
check "get replaced", dc.get("a"), "2"
check "delete", dc.delete("a"), true
check "delete missing", dc.delete("a"), nil
check "incr missing", dc.incr("n", 1), nil
check "incr with default", dc.incr("n", 1, 0, 10), 10
check "incr", dc.incr("n", 5), 15
check "decr", dc.decr("n", 20), 0
check "append", dc.append("k", " world"), true
check "prepend", dc.prepend("k", ">"), true
check "appended", dc.get("k"), ">hello world"
check "append missing", dc.append("missing", "x"), false
check "cas", dc.cas("k") { |value| value + "!" }.is_a?(Integer), true
check "cas stored", dc.get("k"), ">hello world!"
check "cas missing", dc.cas("missing") { |value| value }, nil
value, cas = dc.get_cas("k")
check "get_cas", value, ">hello world!"
check "set_cas stale", dc.set_cas("k", "new", cas + 1, 0, raw), false
check "set_cas", dc.set_cas("k", "new", cas, 0, raw).is_a?(Integer), true
check "touch", dc.touch("k", 100), true
check "touch missing", dc.touch("missing", 100), nil
check "gat", dc.gat("k", 100), "new"
check "object", dc.set("obj", {"a" => [1, 2]}).is_a?(Integer), true
check "object back", dc.get("obj"), {"a" => [1, 2]}
big = "v" * 500_000
dc.set("big", big, 0, raw)
check "big", dc.get("big"), big
keys = (1..50).map { |i| "multi#{i}" }
keys.each_with_index { |key, i| dc.set(key, i.to_s, 0, raw) }
expected = keys.each_with_index.to_h { |key, i| [key, i.to_s] }
check "get_multi", dc.get_multi(*keys, "missing1", "missing2"), expected
dc.multi { keys.each { |key| dc.set(key, "q", 0, raw) } }  # quiet sets, then a noop
check "after quiet", dc.get_multi(*keys).values.uniq, ["q"]
stats = dc.stats.values.first
check "stats version", stats["version"].start_with?("1.6."), true
check "stats items", dc.stats(:items).values.first.key?("items:1:number"), true
check "flush", dc.flush.all? { |ok| ok }, true
check "flushed", dc.get("k"), nil
check "version", dc.version.values.first.start_with?("1.6."), true
dc.close
puts "all checks passed"
