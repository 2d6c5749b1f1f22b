/* Force-included ahead of every mlx-c translation unit and of the bindgen pass.
 *
 * mlx-c 0.7.0 was written for Apple Silicon:
 * - mlx/c/half.h names float16_t / bfloat16_t only on ARM, so on x86_64 the float16 and bfloat16
 *   item/data accessors that mlx-rs calls would vanish. Here they map to MLX's own 16-bit types
 *   (C++) or to 16-bit storage types with the same layout (C, for bindgen).
 * - mlx/c/private/io.h uses std::format, which GCC 12's libstdc++ lacks. A minimal stand-in that
 *   substitutes "{}" placeholders covers the error messages it builds.
 */
#ifndef MLX_SYS_PRELUDE_H
#define MLX_SYS_PRELUDE_H

#if !defined(__aarch64__) && !defined(__ARM_FEATURE_FP16_SCALAR_ARITHMETIC)

#define HAS_FLOAT16
#define HAS_BFLOAT16

#ifdef __cplusplus
#include "mlx/types/half_types.h"
typedef mlx::core::float16_t float16_t;
typedef mlx::core::bfloat16_t bfloat16_t;
#else
#include <stdint.h>
/* bindgen turns __fp16 into a one-field u16 struct, as mlx-rs expects of float16_t. */
typedef __fp16 float16_t;
typedef uint16_t bfloat16_t;
#endif

#endif /* not ARM */

#ifdef __cplusplus
#include <version>
#ifndef __cpp_lib_format
#include <sstream>
#include <string>
#include <string_view>
namespace std {
namespace mlx_sys_detail {
inline void format_rest(std::ostringstream& out, std::string_view fmt) { out << fmt; }
template <class T, class... Rest>
void format_rest(std::ostringstream& out, std::string_view fmt, const T& first, const Rest&... rest) {
  auto at = fmt.find("{}");
  if (at == std::string_view::npos) {
    out << fmt;
    return;
  }
  out << fmt.substr(0, at) << first;
  format_rest(out, fmt.substr(at + 2), rest...);
}
} // namespace mlx_sys_detail
template <class... Args>
std::string format(std::string_view fmt, const Args&... args) {
  std::ostringstream out;
  mlx_sys_detail::format_rest(out, fmt, args...);
  return out.str();
}
} // namespace std
#endif /* __cpp_lib_format */
#endif /* __cplusplus */

#endif /* MLX_SYS_PRELUDE_H */
