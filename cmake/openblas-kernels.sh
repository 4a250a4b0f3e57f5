# Sourced by cmake/dev.sh and the model recipes. OpenBLAS picks its kernels for the CPU it runs
# on (Cooperlake or SkylakeX, AVX-512, on a Zen 5) unless OPENBLAS_CORETYPE names others. Where
# that variable forces AVX2-or-older kernels on a CPU with AVX-512, cephalo-tiny trains 1.2x
# (decoder only) to 1.4x (every weight) slower on 2 cores, so it is dropped here, with a note.
# CEPHALO_KEEP_OPENBLAS_CORETYPE=1 keeps it (for example, to get the same float rounding on
# every machine of a mixed cluster).
if [[ -n ${OPENBLAS_CORETYPE:-} && -z ${CEPHALO_KEEP_OPENBLAS_CORETYPE:-} && -r /proc/cpuinfo ]]; then
  case ${OPENBLAS_CORETYPE,,} in
    skylakex | cooperlake | sapphirerapids | zen4 | zen5) ;;
    *)
      _cephalo_flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
      _cephalo_avx512=1
      for _cephalo_flag in avx512f avx512cd avx512bw avx512dq avx512vl; do
        [[ $_cephalo_flags == *" $_cephalo_flag "* ]] || _cephalo_avx512=0
      done
      if ((_cephalo_avx512)); then
        echo "note: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE unset: this CPU has AVX-512, which OpenBLAS" \
          "picks by itself (CEPHALO_KEEP_OPENBLAS_CORETYPE=1 keeps it)" >&2
        unset OPENBLAS_CORETYPE
      fi
      unset _cephalo_flags _cephalo_avx512 _cephalo_flag
      ;;
  esac
fi
