import { presentedToken } from '../../../../services/gateway/src/http/authorization';

describe('presentedToken', () => {
  it('reads the token of the Token scheme, whatever the case of the scheme', () => {
    expect(presentedToken('Token abc_DEF-123')).toBe('abc_DEF-123');
    expect(presentedToken('token abc')).toBe('abc');
    expect(presentedToken('TOKEN psk_xyz')).toBe('psk_xyz');
    expect(presentedToken('Token   abc  ')).toBe('abc');
  });

  it('takes nothing from another scheme, a missing token or characters no token has', () => {
    for (const header of [
      undefined,
      '',
      'Token',
      'Token ',
      'Bearer abc',
      'Tokenabc',
      'Token a b',
      'Token a/b',
      'Token a=',
    ]) {
      expect(presentedToken(header)).toBeUndefined();
    }
    expect(presentedToken(`Token ${'a'.repeat(200)}`)).toBe('a'.repeat(200));
    expect(presentedToken(`Token ${'a'.repeat(201)}`)).toBeUndefined();
  });
});
