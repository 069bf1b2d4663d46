"""A compact 2-D UNet with a sigmoid output (Weld et al., Section 3.3).

The paper trains "a UNet model with 4 encoder/decoder layers and a maximum channel depth of 64 ...
using sigmoid activation in the final layer". :class:`UNet` builds exactly that by default
(``channels=(8, 16, 32, 64)``: four resolution levels, three 2x down-samplings, widest layer 64) and
takes its widths and depth as checked arguments.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_choice, check_int, check_type, describe

__all__ = ["UNet"]

_NORMS = ("batch", "instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class _DoubleConv(nn.Sequential):
    """(3x3 conv -> norm -> ReLU) twice, padding 1 so the spatial size is kept."""

    def __init__(self, cin: int, cout: int, norm: str):
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=bias),
            _norm(norm, cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=bias),
            _norm(norm, cout),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """UNet for binary (soft) segmentation with a sigmoid output.

    Encoder level ``i`` is a double 3x3 convolution with ``channels[i]`` filters; levels are joined
    by 2x2 max pooling. The decoder mirrors it with 2x2 transposed convolutions, skip
    concatenation and double convolutions, and a final 1x1 convolution maps to ``out_channels``.

    Parameters
    ----------
    in_channels : int, optional
        Input channels (1 for a B-mode image). Default 1.
    out_channels : int, optional
        Output channels. Default 1.
    channels : sequence of int, optional
        Filters per resolution level, shallowest first; ``len(channels)`` is the number of
        encoder/decoder levels (>= 2) and the input's H and W must be divisible by
        ``2 ** (len(channels) - 1)``. Default ``(8, 16, 32, 64)``: the paper's 4 levels with a
        widest layer of 64 channels.
    norm : {"batch", "instance", "none"}, optional
        Normalisation after each convolution. Default "batch".
    sigmoid : bool, optional
        Apply the sigmoid to the output (the paper's final activation). ``False`` returns logits.
        Default True.

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or value; in ``forward`` if the input is not a
        ``(B, in_channels, H, W)`` float tensor with H and W divisible by ``2 ** (levels - 1)``.

    Notes
    -----
    Weld et al., Section 3.3. With the defaults the network has 121,033 parameters.

    Examples
    --------
    >>> import torch
    >>> net = UNet()
    >>> net(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 1, 64, 64])
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        channels=(8, 16, 32, 64),
        norm: str = "batch",
        sigmoid: bool = True,
    ):
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = check_int("out_channels", out_channels, minimum=1)
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__"):
            raise TypeError(f"`channels` must be a sequence of positive integers, got {describe(channels)}")
        if len(channels) < 2:
            raise ValueError(f"`channels` must have at least 2 levels (one down-sampling), got {describe(channels)}")
        channels = tuple(check_int(f"channels[{i}]", c, minimum=1) for i, c in enumerate(channels))
        norm = check_choice("norm", norm, _NORMS)
        check_type("sigmoid", sigmoid, bool, "True or False")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.channels, self.norm, self.sigmoid = channels, norm, sigmoid

        cins = (in_channels, *channels[:-1])
        self.encoders = nn.ModuleList(_DoubleConv(cin, c, norm) for cin, c in zip(cins, channels, strict=True))
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in range(len(channels) - 1, 0, -1):
            self.ups.append(nn.ConvTranspose2d(channels[i], channels[i - 1], 2, stride=2))
            self.decoders.append(_DoubleConv(2 * channels[i - 1], channels[i - 1], norm))
        self.head = nn.Conv2d(channels[0], out_channels, 1)

    @property
    def levels(self) -> int:
        """Number of encoder/decoder resolution levels."""
        return len(self.channels)

    @property
    def divisor(self) -> int:
        """H and W of the input must be multiples of this (``2 ** (levels - 1)``)."""
        return 2 ** (len(self.channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_channels, H, W)`` images to ``(B, out_channels, H, W)`` probabilities."""
        check_type("input", x, torch.Tensor, "a torch.Tensor")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"input must have shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % self.divisor or w % self.divisor:
            raise ValueError(
                f"input H and W must be multiples of {self.divisor} for a UNet with {self.levels} "
                f"levels, got (H={h}, W={w})"
            )
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x)
            if i < len(self.encoders) - 1:
                skips.append(x)
                x = self.pool(x)
        for up, dec in zip(self.ups, self.decoders, strict=True):
            x = up(x)
            x = dec(torch.cat([skips.pop(), x], dim=1))
        x = self.head(x)
        return torch.sigmoid(x) if self.sigmoid else x

    def extra_repr(self) -> str:
        return f"channels={self.channels}, norm={self.norm!r}, sigmoid={self.sigmoid}"
