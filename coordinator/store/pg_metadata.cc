// PgStore: signed metadata (roots, delegations, each channel's signed answer).
// Bytes travel as base64 text and are stored as bytea (decode/encode in SQL).
#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/store/pg_audit.h"
#include "coordinator/store/pg_rows.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_values.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {
namespace {

std::string Bytes(const pqxx::row& row, const char* column) {
  std::string text = row[column].as<std::string>();
  // encode(..., 'base64') breaks lines every 76 characters.
  text.erase(std::remove(text.begin(), text.end(), '\n'), text.end());
  std::string out;
  absl::Base64Unescape(text, &out);
  return out;
}

std::string B64(absl::string_view bytes) { return absl::Base64Escape(bytes); }

absl::Time MicrosOrPast(const pqxx::row& row, const char* column) {
  const int64_t us = row[column].as<int64_t>();
  return us == 0 ? absl::InfinitePast() : FromUnixMicros(us);
}

}  // namespace

absl::StatusOr<std::vector<RootRecord>> PgStore::ListRoots() {
  return pool_.Run<std::vector<RootRecord>>(
      "listing root keys", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<RootRecord>> {
        pqxx::read_transaction tx(c);
        std::vector<RootRecord> out;
        for (const pqxx::row& row : tx.exec(Sql("trust_root_list"))) {
          out.push_back({row["version"].as<int64_t>(), row["key_id"].as<std::string>(), Bytes(row, "envelope_b64"),
                         TimeColumn(row, "published_at_us")});
        }
        return out;
      });
}

absl::StatusOr<std::vector<DelegationRecord>> PgStore::ListDelegations() {
  return pool_.Run<std::vector<DelegationRecord>>(
      "listing delegations", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<DelegationRecord>> {
        pqxx::read_transaction tx(c);
        std::vector<DelegationRecord> out;
        for (const pqxx::row& row : tx.exec(Sql("trust_delegation_list"))) {
          out.push_back({row["targets_key_id"].as<std::string>(), row["root_key_id"].as<std::string>(),
                         row["version"].as<int64_t>(), TimeColumn(row, "expires_at_us"), Bytes(row, "envelope_b64"),
                         TimeColumn(row, "published_at_us")});
        }
        return out;
      });
}

absl::Status PgStore::PublishTrust(const std::vector<RootRecord>& roots,
                                  const std::optional<DelegationRecord>& delegation, const AuditRecord* audit) {
  return pool_
      .Run<bool>(
          "publishing trust metadata",
          [&](pqxx::connection& c) -> absl::StatusOr<bool> {
            pqxx::work tx(c);
            tx.exec0(Sql("trust_publish_lock"));
            const pqxx::row now = tx.exec1(Sql("trust_current"));
            const int64_t highest = now["delegation_version"].as<int64_t>();
            std::string old_value = absl::StrCat("root version ", now["root_version"].as<int64_t>());
            if (highest > 0) {
              absl::StrAppend(&old_value, "; delegation version ", highest, " of targets key ",
                              now["targets_key_id"].as<std::string>());
            }
            std::vector<std::string> published;
            for (const RootRecord& root : roots) {
              pqxx::result r =
                  tx.exec_params(Sql("trust_root_insert"), root.version, root.key_id, B64(root.envelope));
              if (r.empty()) return absl::AbortedError("root version vanished; retry");
              if (Bytes(r[0], "envelope_b64") != root.envelope) {
                return absl::AlreadyExistsError(absl::StrCat("root version ", root.version,
                                                             " is already published with key ",
                                                             r[0]["key_id"].as<std::string>()));
              }
              published.push_back(absl::StrCat("root version ", root.version, " (key ", root.key_id, ")"));
            }
            if (delegation.has_value()) {
              const DelegationRecord& d = *delegation;
              const bool stored = !tx.exec_params(Sql("trust_delegation_stored"), B64(d.envelope)).empty();
              if (!stored && d.version <= highest) {
                return absl::FailedPreconditionError(absl::StrCat(
                    "delegation version ", d.version, " of targets key ", d.targets_key_id,
                    " is not above the highest published (", highest,
                    "): updaters that accepted that one would refuse it; make the delegation again with "
                    "`droverctl keys create-targets --version=",
                    highest + 1, "` or above"));
              }
              if (!stored) {
                tx.exec_params0(Sql("trust_delegation_insert"), d.targets_key_id, d.root_key_id, d.version,
                                absl::ToUnixMicros(d.expires_at), B64(d.envelope));
              }
              published.push_back(absl::StrCat("delegation version ", d.version, " of targets key ",
                                               d.targets_key_id, " by root ", d.root_key_id, ", expires ",
                                               absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", d.expires_at,
                                                                absl::UTCTimeZone()),
                                               stored ? " (published already)" : ""));
            }
            if (audit != nullptr) {
              AuditRecord a = *audit;
              a.object = "trust";
              a.old_value = old_value;
              a.new_value = absl::StrJoin(published, "; ");
              InsertAuditEvent(tx, a);
            }
            tx.commit();
            return true;
          })
      .status();
}

absl::StatusOr<ChannelMetadataRecord> PgStore::EnsureChannelMetadata(const std::string& channel_id,
                                                                     const IsCurrent& is_current,
                                                                     const SignAs& sign) {
  return pool_.Run<ChannelMetadataRecord>(
      "signing the channel's target", [&](pqxx::connection& c) -> absl::StatusOr<ChannelMetadataRecord> {
        pqxx::work tx(c);
        pqxx::result ch = tx.exec_params(Sql("channel_read"), channel_id);
        if (ch.empty()) return ChannelNotFound(channel_id);
        tx.exec_params0(Sql("channel_metadata_placeholder"), channel_id);
        pqxx::result r = tx.exec_params(Sql("channel_metadata_lock"), channel_id);
        if (r.empty()) return absl::AbortedError("channel metadata row vanished; retry");
        // Read after the lock: a replica that signed meanwhile changed the
        // channel row no more than we see now (READ COMMITTED: a new snapshot).
        ch = tx.exec_params(Sql("channel_read"), channel_id);
        if (ch.empty()) return ChannelNotFound(channel_id);
        absl::StatusOr<rollout::Channel> channel = ChannelFromRow(ch[0]);
        if (!channel.ok()) return channel.status();
        ChannelMetadataRecord stored{r[0]["version"].as<int64_t>(),    Bytes(r[0], "content_b64"),
                                     r[0]["targets_key_id"].as<std::string>(), MicrosOrPast(r[0], "expires_at_us"),
                                     Bytes(r[0], "envelope_b64"),      MicrosOrPast(r[0], "signed_at_us")};
        if (stored.version > 0 && is_current(*channel, stored)) {
          tx.commit();
          return stored;
        }
        absl::StatusOr<ChannelMetadataRecord> made = sign(*channel, stored.version + 1);
        if (!made.ok()) return made.status();
        pqxx::result u = tx.exec_params(Sql("channel_metadata_update"), channel_id, made->version, B64(made->content),
                                        made->targets_key_id, absl::ToUnixMicros(made->expires_at),
                                        absl::ToUnixMicros(made->signed_at), B64(made->envelope));
        if (u.empty()) return absl::AbortedError("channel metadata version moved; retry");
        tx.commit();
        return made;
      });
}

}  // namespace drover::store
