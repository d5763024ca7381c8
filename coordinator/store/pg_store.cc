#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_errors.h"
#include "coordinator/store/pg_values.h"

#include "absl/strings/str_cat.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {

PgStore::PgStore(PgStoreOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &real_clock_),
      pool_(options_.url, options_.pool_size,
            [timeout = options_.statement_timeout](pqxx::connection& c) {
              pqxx::nontransaction tx(c);
              // An operator edit waiting on a lock gives up (UNAVAILABLE,
              // retry) rather than hanging the RPC.
              tx.exec(absl::StrCat("SET synchronous_commit = on; SET statement_timeout = ",
                                   absl::ToInt64Milliseconds(timeout), "; SET lock_timeout = 5000"));
            },
            options_.statement_timeout + kWatchdogMargin),
      ingest_pool_(options_.url, options_.ingest_pool_size, [timeout = options_.statement_timeout](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        // Reports are acknowledged only once durable: never let a server
        // default weaken that. The ingest statement is planned once per
        // connection (planning it costs more than running it for a batch), and
        // that one plan must look agents up by key even if it was made while
        // the table was empty, when a sequential scan looked cheaper.
        tx.exec(absl::StrCat("SET synchronous_commit = on; SET statement_timeout = ",
                             absl::ToInt64Milliseconds(timeout)));
        if (tx.exec1(Sql("citus_mode"))[0].as<bool>()) {
          // On Citus the statement runs on the workers, which plan it so
          // (kCitusIngestSettings); the call here must stay a custom plan,
          // for Citus to send it to the shard its anchor names.
          c.prepare(kIngestStatement, Sql("citus_ingest_call"));
          return;
        }
        tx.exec("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off");
        c.prepare(kIngestStatement, Sql("ingest_round"));
      }, options_.statement_timeout + kWatchdogMargin) {
  if (!options_.read_url.empty()) {
    read_pool_ = std::make_unique<PgPool>(
        options_.read_url, options_.pool_size,
        [timeout = options_.statement_timeout](pqxx::connection& c) {
          pqxx::nontransaction tx(c);
          // Reads only: a write sent here by mistake fails at once, on a
          // primary named as replica as well as on a standby.
          tx.exec(absl::StrCat("SET default_transaction_read_only = on; SET statement_timeout = ",
                               absl::ToInt64Milliseconds(timeout)));
        },
        options_.statement_timeout + kWatchdogMargin);
  }
}

absl::Status PgStore::Ping() {
  return pool_
      .Run<bool>("ping",
                 [](pqxx::connection& c) -> absl::StatusOr<bool> {
                   pqxx::nontransaction tx(c);
                   tx.exec(Sql("ping"));
                   return true;
                 })
      .status();
}

}  // namespace drover::store
