//! The two builds of the element-wise kernels (the gradient check, Adam, Muon's halves): a
//! `vec4` build that moves whole 16-byte words of every array, and a one-element build for
//! what the `vec4` one cannot take.
//!
//! A matrix of `len` elements runs its first `len − len % group` elements through the `vec4`
//! build (`group` = 4 elements per thread, 8 for Adam's 16-bit moments) and the last
//! `len % group` through the one-element build compiled with `TAIL_GROUP = group`
//! (`shaders/elementwise.wgsl`: the host's group size is the shader's): two dispatches only
//! when `len` is not a multiple of `group`. Where the `vec4` build cannot bind the matrix (fewer
//! than `group` elements, or a range starting at an offset that is not a multiple of 16 bytes,
//! which an adapter with a small `min_storage_buffer_offset_alignment` allows), the one-element
//! build runs every element. Both builds run each element through the same WGSL function, so they
//! store the same bits; which one ran is invisible in the results.

use super::common::{Program, elementwise_groups, record};

/// The alignment, in bytes, a binding needs for the `vec4` build (`vec4<f32>`'s).
const VEC4_ALIGN: u64 = 16;

/// The bind groups of an element-wise kernel over one set of buffers, made by the kernel's
/// `bind_group`: the one-element build's (every element, or the tail), and the `vec4` build's
/// over the whole groups where the buffers allow it. They remember the length and group size
/// they were made for, so the kernel's `dispatch` covers exactly the elements they bind.
#[derive(Debug)]
pub struct ElementwiseBindGroups {
    one: wgpu::BindGroup,
    vec4: Option<wgpu::BindGroup>,
    len: u32,
    group: u32,
}

impl ElementwiseBindGroups {
    /// Whether the `vec4` build runs (all but the last `len % group` elements).
    #[must_use]
    pub fn uses_vec4(&self) -> bool {
        self.vec4.is_some()
    }

    /// The number of elements covered.
    #[must_use]
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether no element is covered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The one-element build's bind group (it also serves entry points that are not
    /// element-wise, such as the check's `commit`).
    pub(crate) fn one(&self) -> &wgpu::BindGroup {
        &self.one
    }
}

/// How to bind one buffer of an element-wise kernel for `len` elements.
#[derive(Clone, Debug)]
pub(crate) enum Operand<'a> {
    /// Bound the same in both builds (uniforms, tables, the status).
    Fixed(wgpu::BufferBinding<'a>),
    /// An array of `bytes_per_element` bytes per element (4 for `f32`, 2 for a 16-bit moment
    /// packed two to a word): the `vec4` build binds the bytes of the whole groups only.
    Array(wgpu::BufferBinding<'a>, u64),
}

/// Where the `vec4` build of `len` elements in groups of `group` binds `operands`: `None` when
/// there is no whole group or an array starts at an offset that is not a multiple of 16.
fn vec4_bindings<'a>(
    operands: &[Operand<'a>],
    len: u32,
    group: u32,
) -> Option<Vec<wgpu::BufferBinding<'a>>> {
    let body = u64::from(len - len % group);
    if body == 0 {
        return None;
    }
    operands
        .iter()
        .map(|o| match o {
            Operand::Fixed(b) => Some(b.clone()),
            Operand::Array(b, bytes_per_element) => {
                (b.offset % VEC4_ALIGN == 0).then(|| wgpu::BufferBinding {
                    buffer: b.buffer,
                    offset: b.offset,
                    size: wgpu::BufferSize::new(body * bytes_per_element),
                })
            }
        })
        .collect()
}

/// One element-wise entry point in both builds.
#[derive(Debug)]
pub(crate) struct Lanes {
    /// The one-element build over every element.
    all: wgpu::ComputePipeline,
    /// The one-element build over the last `len % group` elements (`TAIL_GROUP = group`).
    tail: wgpu::ComputePipeline,
    /// The `vec4` build over the whole groups.
    vec4: wgpu::ComputePipeline,
    /// Elements per thread of the one-element build (2 for Adam's 16-bit moments: one word).
    per_thread: u32,
    /// Elements per thread of the `vec4` build.
    group: u32,
}

impl Lanes {
    /// Entry point `entry` of `one` (the one-element build: over every element, and with
    /// `TAIL_GROUP = group` over the tail) and of `wide` (the `vec4` build, compiled with
    /// `one`'s layout: [`Program::with_layout_of`]).
    pub(crate) fn new(
        device: &wgpu::Device,
        one: &Program,
        wide: &Program,
        entry: &str,
        per_thread: u32,
        group: u32,
    ) -> Self {
        Self {
            all: one.pipeline(device, entry),
            tail: one.pipeline_with(device, entry, &[("TAIL_GROUP", f64::from(group))]),
            vec4: wide.pipeline(device, entry),
            per_thread,
            group,
        }
    }

    /// The bind groups of `len` elements of `operands` (bindings `0..` in order) for this
    /// entry point's group size. Both builds share `one`'s layout.
    pub(crate) fn bind(
        &self,
        device: &wgpu::Device,
        one: &Program,
        operands: &[Operand<'_>],
        len: u32,
    ) -> ElementwiseBindGroups {
        let whole: Vec<wgpu::BufferBinding<'_>> = operands
            .iter()
            .map(|o| match o {
                Operand::Fixed(b) | Operand::Array(b, _) => b.clone(),
            })
            .collect();
        ElementwiseBindGroups {
            one: one.bind(device, &whole),
            vec4: vec4_bindings(operands, len, self.group).map(|b| one.bind(device, &b)),
            len,
            group: self.group,
        }
    }

    /// Records the entry point over the elements `groups` binds (made by [`Lanes::bind`] of
    /// an entry point with the same group size).
    pub(crate) fn record(&self, pass: &mut wgpu::ComputePass<'_>, groups: &ElementwiseBindGroups) {
        debug_assert_eq!(
            groups.group, self.group,
            "bind groups of another group size"
        );
        let len = groups.len;
        match &groups.vec4 {
            Some(vec4) => {
                record(pass, &self.vec4, vec4, elementwise_groups(len / self.group));
                let rest = len % self.group;
                if rest > 0 {
                    let threads = rest.div_ceil(self.per_thread);
                    record(pass, &self.tail, &groups.one, elementwise_groups(threads));
                }
            }
            None => {
                let threads = len.div_ceil(self.per_thread);
                record(pass, &self.all, &groups.one, elementwise_groups(threads));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_vec4_build_without_a_whole_group() {
        // The bindings are never looked at when there is no whole group.
        assert!(vec4_bindings(&[], 3, 4).is_none());
        assert!(vec4_bindings(&[], 7, 8).is_none());
        assert!(vec4_bindings(&[], 0, 4).is_none());
    }
}
