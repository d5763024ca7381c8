// Built only by the layering_probe_*_pqxx tests, which pass only if this
// fails to LINK: a layer without libpqxx cannot use SQL even though the
// headers are on the system include path.
#include <pqxx/pqxx>

int main(int argc, char** argv) {
  pqxx::connection conn(argc > 1 ? argv[1] : "");
  return conn.is_open() ? 0 : 1;
}
