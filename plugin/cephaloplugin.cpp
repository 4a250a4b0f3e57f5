/* ----------------------------------------------------------------------
   Cephalo LAMMPS plugin: entry point that registers every style.
------------------------------------------------------------------------- */

#include "lammpsplugin.h"
#include "version.h"

#include "compute_cephalo_crack.h"
#include "error.h"
#include "fix_cephalo_bonds.h"
#include "fix_cephalo_vlm.h"

#include <cstring>

using namespace LAMMPS_NS;

namespace {

Compute *crack_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new ComputeCephaloCrack(lmp, argc, argv);
}

Fix *bonds_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new FixCephaloBonds(lmp, argc, argv);
}

Fix *vlm_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new FixCephaloVlm(lmp, argc, argv);
}

}    // namespace

extern "C" __attribute__((visibility("default"))) void lammpsplugin_init(void *lmp, void *handle,
                                                                         void *regfunc)
{
  auto *host = static_cast<LAMMPS *>(lmp);
  // LAMMPS has no ABI check of its own: class layouts differ between versions, so a plugin
  // built for another version would corrupt memory instead of failing.
  if (strcmp(host->version, LAMMPS_VERSION) != 0)
    host->error->all(FLERR,
                     "The Cephalo plugin was built for LAMMPS version {} but was loaded into "
                     "LAMMPS version {}; rebuild it with LAMMPS_SOURCE_DIR set to this "
                     "LAMMPS's src folder",
                     LAMMPS_VERSION, host->version);

  auto register_plugin = reinterpret_cast<lammpsplugin_regfunc>(regfunc);
  lammpsplugin_t plugin;
  plugin.version = LAMMPS_VERSION;
  plugin.author = "Cephalo developers";
  plugin.handle = handle;

  plugin.style = "compute";
  plugin.name = "cephalo/crack";
  plugin.info = "crack tip, length, speed, damage and stress/energy statistics";
  plugin.creator.v2 = reinterpret_cast<lammpsplugin_factory2 *>(&crack_creator);
  (*register_plugin)(&plugin, lmp);

  plugin.style = "fix";
  plugin.name = "cephalo/vlm";
  plugin.info = "renders fracture snapshots and asks a Cephalo model server about them";
  plugin.creator.v2 = reinterpret_cast<lammpsplugin_factory2 *>(&vlm_creator);
  (*register_plugin)(&plugin, lmp);

  plugin.style = "fix";
  plugin.name = "CEPHALO_BONDS";
  plugin.info = "internal: reference bonds of compute cephalo/crack";
  plugin.creator.v2 = reinterpret_cast<lammpsplugin_factory2 *>(&bonds_creator);
  (*register_plugin)(&plugin, lmp);
}
